// keydictutil against a real sealpoold and sealkmsd: --list (checked against what was backed
// up and what sealkmsd holds), --rotate, --rewrap after a root-key rotation, --purge's
// confirmation (refused without --yes off a terminal; typed on a pseudo-terminal), exit codes.
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "test/tools/admin/admin_tool_env.h"
#include "tools/admin/admin_output.h"
#include "tools/admin/exit_codes.h"

namespace sealpool::test {
namespace {

using Catch::Contains;
using Catch::StartsWith;
namespace admin = tools::admin;

TEST_CASE_METHOD(AdminToolFixture, "keydictutil --list shows LSUs, key groups and KEKs",
                 "[tools][keydictutil]") {
  auto bytes = PseudoRandomBytes(500000, 3);
  BackUp("lsu1", "one", std::string(bytes.begin(), bytes.end()));
  auto j = KeydictutilJson({"--list"});
  REQUIRE(At(j, "lsus").list_value().values_size() == 2);
  CHECK(Str(j, "lsus.0.name") == "lsu1");
  CHECK(Str(j, "lsus.0.key_group") == "kg-a");
  CHECK(Bool(j, "lsus.0.encrypted"));
  CHECK(Str(j, "lsus.0.kms_mode") == "KEK-based KMS (builtin)");
  CHECK(Str(j, "lsus.1.name") == "lsu2");
  REQUIRE(At(j, "key_groups").list_value().values_size() == 1);
  CHECK(Str(j, "key_groups.0.name") == "kg-a");
  CHECK(Str(j, "key_groups.0.kms_backend") == "builtin");
  CHECK(Num(j, "key_groups.0.chunk_avg_size") == 64 * 1024);
  REQUIRE(At(j, "key_groups.0.keks").list_value().values_size() == 1);
  CHECK(Num(j, "key_groups.0.keks.0.id") >= 1);
  CHECK(Str(j, "key_groups.0.keks.0.state") == "active");
  const std::string root = Str(j, "key_groups.0.keks.0.root_key_id");
  CHECK_FALSE(root.empty());
  CHECK(Str(j, "key_groups.0.fingerprint_key_root_key_id") == root);
  CHECK_THAT(Str(j, "key_groups.0.keks.0.created"),
             Catch::Matches(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)"));
  // One DEK per segment stored: as many as --dsstat's active records.
  auto stats = CrcontrolJson({"--dsstat"});
  CHECK(Num(j, "key_groups.0.keks.0.deks_wrapped") == Num(stats, "active_records"));
  CHECK(Num(j, "key_groups.0.keks.0.deks_wrapped") > 1);

  ToolRun r = Keydictutil({"--list"});
  INFO(r.err);
  REQUIRE(r.exit_code == admin::kExitOk);
  CHECK_THAT(r.out, StartsWith("LSU   KEY GROUP  ENCRYPTION  KMS MODE\n"
                               "lsu1  kg-a       Yes         KEK-based KMS (builtin)\n"
                               "lsu2  kg-a       Yes         KEK-based KMS (builtin)\n\n"
                               "Key group kg-a: kek_mode symmetric, backend builtin, fingerprint key under root key " +
                               root +
                               ", chunking 16384/65536/262144 bytes (min/avg/max)\n"
                               "KEK  STATE   ROOT KEY"));
  const std::string deks =
      std::to_string(static_cast<uint64_t>(Num(j, "key_groups.0.keks.0.deks_wrapped")));
  CHECK_THAT(r.out, Contains("  active  " + root + "  "));
  CHECK_THAT(r.out, Contains("Z  " + deks + "\n"));
}

TEST_CASE_METHOD(AdminToolFixture,
                 "keydictutil --rotate starts a new KEK and --rewrap follows "
                 "a root-key rotation",
                 "[tools][keydictutil]") {
  BackUp("lsu1", "before", "under the first KEK");
  ToolRun r = Keydictutil({"--rotate", "kg-a"});
  INFO(r.err);
  REQUIRE(r.exit_code == admin::kExitOk);
  CHECK(r.out ==
        "Key group kg-a: KEK 2 is the active KEK now; older KEKs stay inactive and "
        "still unwrap\n");
  auto j = KeydictutilJson({"--rotate", "kg-a"});
  CHECK(Str(j, "key_group") == "kg-a");
  CHECK(Num(j, "kek_id") == 3);
  auto list = KeydictutilJson({"--list"});
  REQUIRE(At(list, "key_groups.0.keks").list_value().values_size() == 3);
  CHECK(Str(list, "key_groups.0.keks.0.state") == "inactive");
  CHECK(Str(list, "key_groups.0.keks.2.state") == "active");
  r = Keydictutil({"--rotate", "nope"});
  CHECK(r.exit_code == admin::kExitNotFound);
  CHECK_THAT(r.err, StartsWith("keydictutil: NOT_FOUND: "));

  // A new root key in sealkmsd; the group's keys move under it.
  const std::string old_root = Str(list, "key_groups.0.keks.0.root_key_id");
  const std::string new_root = kms().CreateKey("kg-a");
  REQUIRE(kms().SetState(new_root, kms::v1::KEY_STATE_ACTIVE).ok());
  j = KeydictutilJson({"--rewrap", "kg-a"});
  CHECK(Str(j, "key_group") == "kg-a");
  CHECK(Num(j, "rewrapped") == 4);  // three KEKs and the fingerprint key
  CHECK(Str(j, "root_key_id") == new_root);
  list = KeydictutilJson({"--list"});
  for (int k = 0; k < 3; ++k) {
    CHECK(Str(list, "key_groups.0.keks." + std::to_string(k) + ".root_key_id") == new_root);
  }
  CHECK(Str(list, "key_groups.0.fingerprint_key_root_key_id") == new_root);
  r = Keydictutil({"--rewrap", "kg-a"});
  REQUIRE(r.exit_code == admin::kExitOk);
  CHECK_THAT(r.out, StartsWith("Key group kg-a: "));
  CHECK_THAT(r.out, Contains("the group's keys are under root key " + new_root + "\n"));
  CHECK(old_root != new_root);
  // Data written before is still readable.
  CHECK(AdminRestore(*pool().Admin(), "lsu1", "alice", "before").value() == "under the first KEK");
}

TEST_CASE_METHOD(AdminToolFixture, "keydictutil --purge asks for confirmation",
                 "[tools][keydictutil]") {
  // Off a terminal, without --yes: refused before sealpoold is asked anything.
  ToolRun r = Keydictutil({"--purge", "kg-a"});
  CHECK(r.exit_code == admin::kExitUsage);
  CHECK(r.err ==
        "keydictutil: --purge kg-a asks for confirmation on a terminal, and stdin is "
        "not one: add --yes to confirm (nothing was done)\n");
  r = Keydictutil({"--purge", "kg-a", "--json"});
  CHECK(r.exit_code == admin::kExitUsage);
  CHECK(Str(ParseJson(r.out), "error.code") == "INVALID_ARGUMENT");
  // On a terminal, a name that is not the group's cancels.
  r = RunOnTerminal({KEYDICTUTIL_PATH, "--socket", socket(), "--purge", "kg-a"},
                    "Type the key group's name to confirm: ", "kg-b\n");
  CHECK(r.exit_code == admin::kExitRefused);
  CHECK_THAT(r.err, Contains("keydictutil: the name typed is not kg-a: purge cancelled, nothing "
                             "was done"));
  CHECK_THAT(ReadFileOrDie(pool().audit_path()), !Contains("\"op\":\"purge\""));
  // The right name, or --yes, reaches sealpoold's Purge (what it does is the purge work's).
  r = RunOnTerminal({KEYDICTUTIL_PATH, "--socket", socket(), "--purge", "kg-a"},
                    "Type the key group's name to confirm: ", "kg-a\n");
  CHECK(r.exit_code != admin::kExitUsage);
  CHECK_THAT(r.err, !Contains("cancelled"));
  CHECK_THAT(ReadFileOrDie(pool().audit_path()), Contains("\"op\":\"purge\""));
  r = Keydictutil({"--purge", "kg-a", "--yes"});
  CHECK(r.exit_code != admin::kExitUsage);
  CHECK_THAT(r.err, !Contains("confirmation"));
}

TEST_CASE_METHOD(AdminToolFixture, "keydictutil refuses bad command lines with exit 2",
                 "[tools][keydictutil]") {
  ToolRun r = Keydictutil({});
  CHECK(r.exit_code == admin::kExitUsage);
  CHECK(r.err == "keydictutil: give one command, e.g. --list (see --help)\n");
  CHECK(Keydictutil({"--list", "--rotate", "kg-a"}).exit_code == admin::kExitUsage);
  r = Keydictutil({"--list", "--yes"});
  CHECK(r.exit_code == admin::kExitUsage);
  CHECK(r.err == "keydictutil: --yes goes with --purge\n");
  CHECK(Keydictutil({"--addgroup", "kg-x", "--kms-backend", "vault"}).exit_code ==
        admin::kExitUsage);
  CHECK(Keydictutil({"--rotate"}).exit_code == admin::kExitUsage);
  CHECK(Keydictutil({"--list", "--kms-backend", "kmip"}).exit_code == admin::kExitUsage);
  r = RunTool({KEYDICTUTIL_PATH, "--help"});
  CHECK(r.exit_code == admin::kExitOk);
  for (const char* s : {"--list", "--rotate GROUP", "--rewrap GROUP", "--purge GROUP",
                        "--addgroup GROUP", "--yes", "--json", "Exit codes"}) {
    CHECK_THAT(r.out, Contains(s));
  }
}

TEST_CASE("keydictutil --list shows a public group's KEK pairs with their key hash prefix",
          "[tools][keydictutil][write_only]") {
  pool::v1::ListKeysResponse keys;
  pool::v1::KeyGroupInfo* g = keys.add_key_groups();
  g->set_name("kg-w");
  g->set_kms_backend("builtin");
  g->set_kek_mode("public");
  g->set_fingerprint_key_root_key_id("rk-1");
  g->set_chunk_min_size(16384);
  g->set_chunk_avg_size(65536);
  g->set_chunk_max_size(262144);
  pool::v1::KekInfo* k = g->add_keks();
  k->set_id(1);
  k->set_state("active");
  k->set_root_key_id("rk-1");
  k->set_pair(true);
  k->set_public_key_sha256(std::string("3f9a0c27d41e88b2") + std::string(48, '0'));
  const std::string human = admin::KeysHuman(keys);
  CHECK_THAT(human, Contains("Key group kg-w: kek_mode public, backend builtin,"));
  CHECK_THAT(human, Contains("KEK PAIR  STATE   ROOT KEY  CREATED"));
  CHECK_THAT(human, Contains("PUBLIC KEY SHA-256\n"));
  CHECK_THAT(human, Contains("  3f9a0c27d41e88b2\n"));
  CHECK_THAT(human, !Contains(std::string(48, '0')));
  const std::string json = admin::KeysJson(keys);
  CHECK_THAT(json, Contains("\"kek_mode\":\"public\""));
  CHECK_THAT(json, Contains("\"pair\":true,\"public_key_sha256\":\"3f9a0c27d41e88b2" +
                            std::string(48, '0') + "\""));
}

}  // namespace
}  // namespace sealpool::test
