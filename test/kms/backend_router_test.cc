// sealkmsd with a KMIP backend chosen per key group, end to end: real sealkmsd and PyKMIP
// processes, kmscmd for administration, kms::KmsClient as a storage server. Skipped (code 77)
// only where python3-pykmip is missing.
#include "kms/backend_router.h"

#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <map>
#include <set>
#include <sstream>

#include "kms/kmip_backend.h"
#include "kms/wrapped_key_format.h"
#include "test/kms/kmip/pykmip_server.h"
#include "test/kms/kms_test_env.h"

namespace sealpool::test {
namespace {

// kmscmd exit codes (tools/kmscmd/exit_codes.h).
constexpr int kOk = 0;
constexpr int kRefused = 4;
constexpr int kUnavailable = 6;
constexpr int kKms = 7;

class KmipKmsFixture {
 public:
  explicit KmipKmsFixture(std::vector<std::string> kmip_groups = {"kg-a"}) : kms_(dir_.path()) {
    RequirePyKmip();
    kmip_.Start();
    groups_ = std::move(kmip_groups);
  }

  // Configures [kmip] (client identity `cert` from kmip dir `sub`), creates the state file
  // (`init`; only once).
  void ConfigureKmip(const std::string& cert = "sealkmsd", const std::string& sub = "",
                     bool init = true) {
    std::filesystem::path d = sub.empty() ? kmip_.dir() : kmip_.dir() / sub;
    std::ostringstream c;
    c << "[kmip]\nserver = \"127.0.0.1:" << kmip_.port() << "\"\n"
      << "ca = \"" << (kmip_.dir() / "ca.crt").string() << "\"\n"
      << "cert = \"" << (d / (cert + ".crt")).string() << "\"\n"
      << "key = \"" << (d / (cert + ".key")).string() << "\"\n"
      << "state = \"kmip-state\"\ntimeout_seconds = " << kmip_timeout_seconds_
      << "\nkey_groups = [";
    for (size_t i = 0; i < groups_.size(); ++i) c << (i ? ", " : "") << "\"" << groups_[i] << "\"";
    c << "]\n";
    kms_.SetExtraConfig(c.str());
    if (!init) return;
    std::string out;
    int rc =
        RunCommand({SEALKMSD_PATH, "--config", kms_.config_path().string(), "--init-store"}, &out);
    INFO(out);
    REQUIRE(rc == 0);
  }

  int Kmscmd(std::vector<std::string> args) {
    std::vector<std::string> argv = {KMSCMD_PATH,
                                     "--server",
                                     kms_.address(),
                                     "--ca",
                                     (kms_.dir() / "ca.crt").string(),
                                     "--cert",
                                     (kms_.dir() / "admin.crt").string(),
                                     "--key",
                                     (kms_.dir() / "admin.key").string(),
                                     "--timeout",
                                     "5"};
    argv.insert(argv.end(), args.begin(), args.end());
    return RunCommand(argv, &out_);
  }
  // `kmscmd --json key create G`: the new key's id.
  std::string CreateKey(const std::string& group) {
    REQUIRE(Kmscmd({"--json", "key", "create", group}) == kOk);
    size_t at = out_.find("\"id\":\"");
    REQUIRE(at != std::string::npos);
    return out_.substr(at + 6, out_.find('"', at + 6) - at - 6);
  }
  std::optional<kms::kmip::ObjectState> KmsState(const std::string& id) {
    auto a = kmip_.Client()->GetAttributes(kms::KmipUidOf(id));
    if (!a.ok()) return std::nullopt;
    return a->state;
  }

 protected:
  // Destroyed bottom-up: sealkmsd stops before PyKMIP, which then exits at once.
  PyKmipServer kmip_;
  TempDir dir_;
  Sealkmsd kms_;
  std::vector<std::string> groups_;
  std::string out_;
  int kmip_timeout_seconds_ = 1;  // [kmip].timeout_seconds
};

using kms::kmip::ObjectState;
const std::vector<uint8_t> kKek = PseudoRandomBytes(32, 5);

TEST_CASE_METHOD(KmipKmsFixture, "sealkmsd KMIP group: the whole key life cycle through kmscmd",
                 "[kmip][pykmip][e2e]") {
  ConfigureKmip();
  kms_.Start();
  REQUIRE(Kmscmd({"group", "create", "kg-a"}) == kOk);
  REQUIRE(Kmscmd({"group", "create", "kg-b"}) == kOk);  // a built-in group beside it
  std::string k1 = CreateKey("kg-a");
  CHECK(k1.rfind("kmip-", 0) == 0);
  CHECK(CreateKey("kg-b").rfind("rk-", 0) == 0);
  CHECK(KmsState(k1) == ObjectState::kPreActive);
  REQUIRE(Kmscmd({"key", "activate", k1}) == kOk);
  CHECK(KmsState(k1) == ObjectState::kActive);

  auto client = kms_.Client("pool-a", "pool-a", absl::Seconds(5));
  auto w1 = client->Wrap("kg-a", "kek-1", kKek);
  INFO(w1.status().ToString());
  REQUIRE(w1.ok());
  CHECK(w1->root_key_id == k1);
  auto u1 = client->Unwrap("kg-a", "kek-1", w1->blob);
  REQUIRE(u1.ok());
  CHECK(Vec(*u1) == kKek);

  std::string k2 = CreateKey("kg-a");
  REQUIRE(Kmscmd({"key", "activate", k2}) == kOk);
  REQUIRE(Kmscmd({"--json", "key", "list", "--group", "kg-a"}) == kOk);
  CHECK_THAT(out_, Catch::Contains("KEY_STATE_INACTIVE"));
  CHECK(KmsState(k1) == ObjectState::kActive);          // inactive in sealpool, Active in the KMS
  CHECK(Kmscmd({"key", "deprecate", k1}) == kRefused);  // still wraps kek-1
  auto w2 = client->Wrap("kg-a", "kek-1", kKek);        // re-wrap under k2
  REQUIRE(w2.ok());
  REQUIRE(Kmscmd({"key", "deprecate", k1}) == kOk);
  CHECK(KmsState(k1) == ObjectState::kDeactivated);
  REQUIRE(Kmscmd({"key", "terminate", k1}) == kOk);
  CHECK(!KmsState(k1).has_value());  // Revoke then Destroy: gone from the KMS
  REQUIRE(Kmscmd({"key", "delete", k1}) == kOk);
  REQUIRE(Kmscmd({"key", "compromise", k2}) == kOk);
  CHECK(KmsState(k2) == ObjectState::kCompromised);
  CHECK(!client->Wrap("kg-a", "kek-2", kKek).ok());
  REQUIRE(Kmscmd({"group", "shred", "kg-a", "--confirm", "kg-a"}) == kOk);
  CHECK(!KmsState(k2).has_value());
  REQUIRE(Kmscmd({"group", "list"}) == kOk);
  CHECK_THAT(out_, !Catch::Contains("kg-a"));
  CHECK_THAT(out_, Catch::Contains("kg-b"));
}

TEST_CASE_METHOD(KmipKmsFixture,
                 "sealkmsd KMIP group: KMS stopped mid-run fails bounded and recovers",
                 "[kmip][pykmip][e2e]") {
  ConfigureKmip();
  kms_.Start();
  REQUIRE(Kmscmd({"group", "create", "kg-a"}) == kOk);
  std::string k = CreateKey("kg-a");
  REQUIRE(Kmscmd({"key", "activate", k}) == kOk);
  auto client = kms_.Client("pool-a", "pool-a", absl::Seconds(3));
  auto w = client->Wrap("kg-a", "kek-1", kKek);
  REQUIRE(w.ok());
  REQUIRE(client->Unwrap("kg-a", "kek-1", w->blob).ok());

  kmip_.Kill();
  auto start = std::chrono::steady_clock::now();
  auto failed = client->Wrap("kg-a", "kek-2", kKek);
  auto took = std::chrono::steady_clock::now() - start;
  INFO(failed.status().ToString());
  REQUIRE(!failed.ok());
  CHECK((failed.status().code() == absl::StatusCode::kUnavailable ||
         failed.status().code() == absl::StatusCode::kDeadlineExceeded));
  CHECK(took < std::chrono::seconds(5));
  auto cached = client->Unwrap("kg-a", "kek-1", w->blob);  // ingest goes on with cached KEKs
  REQUIRE(cached.ok());
  CHECK(Vec(*cached) == kKek);
  CHECK(Kmscmd({"key", "list"}) == kOk);  // administration of recorded state still answers
  CHECK(Kmscmd({"key", "create", "kg-a"}) == kKms);

  kmip_.Start();  // same port, same database
  auto again = client->Wrap("kg-a", "kek-2", kKek);
  INFO(again.status().ToString());
  REQUIRE(again.ok());
  auto fresh = kms_.Client("pool-a", "pool-a");
  auto u = fresh->Unwrap("kg-a", "kek-2", again->blob);
  REQUIRE(u.ok());
  CHECK(Vec(*u) == kKek);
}

// ---- Errors that name the component at fault and the config key to fix (issue 12). ----

// kmscmd's answer when the KMS failed: its own exit code, sealkmsd's message naming the KMIP
// server, and a hint at sealkmsd's [kmip] config rather than at kmscmd's connection.
#define CHECK_KMS_FAILURE(out, code_name, ...)                                                 \
  do {                                                                                         \
    INFO(out);                                                                                 \
    CHECK_THAT(out, Catch::Contains(std::string("kmscmd: ") + code_name + ": KMS (KMIP), ") && \
                        Catch::Contains("KMIP server 127.0.0.1:" + std::to_string(kmip_.port())) && \
                        Catch::Contains("its KMS (the KMIP server it keeps root keys in) failed or " \
                                        "refused") &&                                          \
                        Catch::Contains("[kmip] section of sealkmsd's config") && __VA_ARGS__); \
    CHECK_THAT(out, !Catch::Contains("is sealkmsd running"));                                 \
  } while (false)

TEST_CASE_METHOD(KmipKmsFixture,
                 "sealkmsd KMIP group: a client certificate the KMS does not trust is named",
                 "[kmip][pykmip][e2e][errors]") {
  kmip_.MakeForeignCerts();
  ConfigureKmip("sealkmsd", "foreign");
  kms_.Start();  // starts anyway (built-in groups keep working) and logs the KMS problem
  REQUIRE(Kmscmd({"group", "create", "kg-a"}) == kOk);
  CHECK(Kmscmd({"key", "create", "kg-a"}) == kKms);
  CHECK_KMS_FAILURE(out_, "FAILED_PRECONDITION",
                    Catch::Contains("refused sealkmsd's client certificate ([kmip].cert (" +
                                    (kmip_.dir() / "foreign" / "sealkmsd.crt").string() +
                                    ")) in the TLS handshake: the KMS does not trust its issuer"));
  REQUIRE(Kmscmd({"group", "create", "kg-b"}) == kOk);
  CHECK(Kmscmd({"key", "create", "kg-b"}) == kOk);
  std::string log = ReadFileOrDie(kms_.dir() / "sealkmsd.log");
  CHECK_THAT(log, Catch::Contains("not usable now"));
  CHECK_THAT(log, Catch::Contains("KMIP call failed: FAILED_PRECONDITION: KMS (KMIP), key group "
                                  "kg-a: KMIP Create: KMIP server"));
  // The audit line's detail names the operation once ("KMS (KMIP), <group>: KMIP Create: ...").
  std::string audit = ReadFileOrDie(kms_.audit_path());
  CHECK_THAT(audit, Catch::Contains("\"op\":\"create-key\",\"pool\":\"\",\"group\":\"kg-a\"") &&
                        Catch::Contains("\"detail\":\"KMS (KMIP), key group kg-a: KMIP Create: "
                                        "KMIP server 127.0.0.1:"));
  CHECK_THAT(audit, !Catch::Contains("Create: KMIP Create"));
}

TEST_CASE_METHOD(KmipKmsFixture,
                 "sealkmsd KMIP group: a wrong [kmip].ca, a certificate for servers only and one "
                 "without extended key usage are each named with the key to fix",
                 "[kmip][pykmip][e2e][errors]") {
  kmip_.MakeForeignCerts();
  std::string extra;
  SECTION("[kmip].ca of another CA: sealkmsd refuses the KMS") {
    ConfigureKmip();
    std::string config = ReadFileOrDie(kms_.config_path());
    const std::string ca = (kmip_.dir() / "ca.crt").string();
    const std::string foreign_ca = (kmip_.dir() / "foreign" / "ca.crt").string();
    std::string kmip_part = config.substr(config.find("[kmip]"));
    kmip_part.replace(kmip_part.find(ca), ca.size(), foreign_ca);
    kms_.SetExtraConfig(kmip_part);
    kms_.Start();
    REQUIRE(Kmscmd({"group", "create", "kg-a"}) == kOk);
    CHECK(Kmscmd({"key", "create", "kg-a"}) == kKms);
    CHECK_KMS_FAILURE(out_, "FAILED_PRECONDITION",
                      Catch::Contains("sealkmsd refused the certificate of KMIP server") &&
                          Catch::Contains("check [kmip].ca (" + foreign_ca + ")"));
  }
  SECTION("a client certificate for servers only: the KMS refuses it") {
    ConfigureKmip("server");
    kms_.Start();
    REQUIRE(Kmscmd({"group", "create", "kg-a"}) == kOk);
    CHECK(Kmscmd({"key", "create", "kg-a"}) == kKms);
    CHECK_KMS_FAILURE(out_, "FAILED_PRECONDITION",
                      Catch::Contains("refused sealkmsd's client certificate ([kmip].cert (") &&
                          Catch::Contains("it needs the extended key usage clientAuth"));
  }
  SECTION("a client certificate without extended key usage: the KMS refuses every request") {
    kmip_.MakeCertWithoutEku("no-eku");
    ConfigureKmip("no-eku");
    kms_.Start();
    REQUIRE(Kmscmd({"group", "create", "kg-a"}) == kOk);
    CHECK(Kmscmd({"key", "create", "kg-a"}) == kKms);  // not 5, "not an admin certificate"
    CHECK_KMS_FAILURE(
        out_, "FAILED_PRECONDITION",
        Catch::Contains("refuses every request made with sealkmsd's client certificate "
                        "([kmip].cert (") &&
            Catch::Contains("Authentication Not Successful"));
  }
}

TEST_CASE_METHOD(KmipKmsFixture,
                 "sealkmsd KMIP group: a KMS that is down or hangs is named, with sealkmsd's own "
                 "deadline",
                 "[kmip][pykmip][e2e][errors]") {
  kmip_timeout_seconds_ = 3;  // room for PyKMIP on a loaded machine, and below kmscmd's 30 s
  ConfigureKmip();
  kms_.Start();
  REQUIRE(Kmscmd({"group", "create", "kg-a"}) == kOk);
  REQUIRE(Kmscmd({"key", "create", "kg-a"}) == kOk);
  SECTION("frozen: sealkmsd's deadline ([kmip].timeout_seconds) ends the call first") {
    kmip_.Freeze();
    // kmscmd's default deadline (30 s) exceeds sealkmsd's KMIP deadline (here 3 s).
    std::vector<std::string> argv = {KMSCMD_PATH,   "key",
                                     "create",      "kg-a",
                                     "--server",    kms_.address(),
                                     "--ca",        (kms_.dir() / "ca.crt").string(),
                                     "--cert",      (kms_.dir() / "admin.crt").string(),
                                     "--key",       (kms_.dir() / "admin.key").string()};
    CHECK(RunCommand(argv, &out_) == kKms);
    CHECK_KMS_FAILURE(out_, "DEADLINE_EXCEEDED",
                      Catch::Contains("deadline passed while waiting for the response (3s, "
                                      "[kmip].timeout_seconds)"));
    kmip_.Thaw();
  }
  SECTION("down") {
    kmip_.Kill();
    CHECK(Kmscmd({"key", "create", "kg-a"}) == kKms);
    CHECK_KMS_FAILURE(out_, "UNAVAILABLE", Catch::Contains("KMIP Create"));
    CHECK_THAT(ReadFileOrDie(kms_.dir() / "sealkmsd.log"),
               Catch::Contains("KMIP call failed: UNAVAILABLE: KMS (KMIP), key group kg-a"));
  }
}

TEST_CASE_METHOD(KmipKmsFixture,
                 "sealkmsd --check-kms reports the KMS and certificate problems and changes "
                 "nothing",
                 "[kmip][pykmip][e2e][errors]") {
  auto check = [&]() {
    return RunCommand({SEALKMSD_PATH, "--config", kms_.config_path().string(), "--check-kms"},
                      &out_);
  };
  ConfigureKmip();
  CHECK(check() == 0);
  CHECK_THAT(out_, Catch::Contains("KMIP server 127.0.0.1:" + std::to_string(kmip_.port()) +
                                   ": OK (KMIP 1.4") &&
                       Catch::Contains("connected, TLSv1.2 with cipher ECDHE-ECDSA-") &&
                       Catch::Contains("key group kg-a: 0 key(s) in the KMS") &&
                       Catch::Contains("nothing was changed in the KMS"));
  CHECK(kmip_.Client()->Locate("kg-a")->empty());
  std::string valid;
  CHECK(RunCommand({SEALKMSD_PATH, "--config", kms_.config_path().string(), "--check-config"},
                   &valid) == 0);
  CHECK_THAT(valid, Catch::Contains("the KMIP server was not contacted: --check-kms does"));

  kmip_.MakeForeignCerts();
  ConfigureKmip("sealkmsd", "foreign", false);
  CHECK(check() == 2);
  CHECK_THAT(out_, Catch::Contains("KMS check of KMIP server 127.0.0.1:") &&
                       Catch::Contains("refused sealkmsd's client certificate ([kmip].cert ("));
  kmip_.MakeCertWithoutEku("no-eku");
  ConfigureKmip("no-eku", "", false);
  CHECK(check() == 2);
  CHECK_THAT(out_, Catch::Contains("Authentication Not Successful"));
  ConfigureKmip("sealkmsd", "", false);
  kmip_.Kill();
  CHECK(check() == 1);
  CHECK_THAT(out_, Catch::Contains("(UNAVAILABLE)"));
}

TEST_CASE_METHOD(KmipKmsFixture,
                 "sealkmsd moves a key group from the built-in store to KMIP, resumably",
                 "[kmip][pykmip][e2e]") {
  // Before: kg-a is a built-in group with five wrapped secrets (four KEKs, the fingerprint key).
  kms_.Start();
  std::string old_key = kms_.CreateActiveGroup("kg-a");
  const std::vector<std::string> keks = {"kek-1", "kek-2", "kek-3", "kek-4", "fingerprint"};
  std::map<std::string, std::vector<uint8_t>> blobs;
  std::map<std::string, std::vector<uint8_t>> secrets;
  {
    auto client = kms_.Client("pool-a", "pool-a");
    for (size_t i = 0; i < keks.size(); ++i) {
      secrets[keks[i]] = PseudoRandomBytes(32, 100 + i);
      auto w = client->Wrap("kg-a", keks[i], secrets[keks[i]]);
      REQUIRE(w.ok());
      blobs[keks[i]] = w->blob;
    }
  }
  REQUIRE(kms_.Stop() == 0);

  // The move: kg-a listed under [kmip], its KMIP side created, a KMIP key activated.
  ConfigureKmip();
  kms_.Start();
  REQUIRE(Kmscmd({"group", "create", "kg-a"}) == kOk);
  std::string new_key = CreateKey("kg-a");
  REQUIRE(new_key.rfind("kmip-", 0) == 0);
  REQUIRE(Kmscmd({"key", "activate", new_key}) == kOk);
  REQUIRE(Kmscmd({"--json", "key", "list", "--group", "kg-a"}) == kOk);
  CHECK_THAT(out_, Catch::Contains(old_key));

  auto usage_of = [&](kms::KmsClient& c) {
    std::vector<kms::KekUsageEntry> entries;
    for (const auto& [kek, blob] : blobs) {
      auto parsed = kms::WrappedKey::Decode(blob);
      REQUIRE(parsed.ok());
      entries.push_back({kek, parsed->root_key_id});
    }
    auto r = c.Reconcile("kg-a", entries);
    INFO(r.status().ToString());
    REQUIRE(r.ok());
    std::set<std::string> pending;
    for (const auto& u : r->usages) {
      if (u.rewrap_needed) pending.insert(u.kek_id);
    }
    return pending;
  };
  auto rewrap = [&](kms::KmsClient& c, const std::string& kek) {
    auto plain = c.UnwrapForRewrap("kg-a", kek, blobs[kek]);
    REQUIRE(plain.ok());
    auto w = c.Wrap("kg-a", kek, plain->span());
    REQUIRE(w.ok());
    CHECK(w->root_key_id == new_key);
    blobs[kek] = w->blob;
  };
  {
    auto pool = kms_.Client("pool-a", "pool-a");
    CHECK(usage_of(*pool).size() == keks.size());
    rewrap(*pool, "kek-1");
    rewrap(*pool, "fingerprint");
  }  // the pool stops half-way
  REQUIRE(kms_.Stop() == 0);
  kms_.Start();
  auto pool = kms_.Client("pool-a", "pool-a");
  auto pending = usage_of(*pool);
  CHECK(pending == std::set<std::string>{"kek-2", "kek-3", "kek-4"});
  // Not yet re-wrapped KEKs still open under the (now inactive) built-in key.
  auto still = pool->Unwrap("kg-a", "kek-3", blobs["kek-3"]);
  REQUIRE(still.ok());
  CHECK(Vec(*still) == secrets["kek-3"]);
  CHECK(Kmscmd({"key", "deprecate", old_key}) == kRefused);
  for (const std::string& kek : pending) rewrap(*pool, kek);
  CHECK(usage_of(*pool).empty());

  // After: every KEK opens from its new blob, through the KMS, by a fresh client.
  auto fresh = kms_.Client("pool-a", "pool-a");
  for (const std::string& kek : keks) {
    auto u = fresh->Unwrap("kg-a", kek, blobs[kek]);
    INFO(kek << ": " << u.status().ToString());
    REQUIRE(u.ok());
    CHECK(Vec(*u) == secrets[kek]);
    CHECK(kms::WrappedKey::Decode(blobs[kek])->backend == kms::kBackendKmip);
  }
  REQUIRE(Kmscmd({"usage", "--key", old_key}) == kOk);
  CHECK_THAT(out_, !Catch::Contains("kek-"));
  REQUIRE(Kmscmd({"key", "deprecate", old_key}) == kOk);
  REQUIRE(Kmscmd({"key", "terminate", old_key}) == kOk);
  REQUIRE(Kmscmd({"key", "delete", old_key}) == kOk);
  auto after = fresh->Unwrap("kg-a", "kek-4", blobs["kek-4"]);
  REQUIRE(after.ok());
}

TEST_CASE_METHOD(KmipKmsFixture,
                 "sealkmsd --rebuild-kmip-state recovers a lost KMIP state file from the KMS",
                 "[kmip][pykmip][e2e][rebuild]") {
  ConfigureKmip();
  kms_.Start();
  REQUIRE(Kmscmd({"group", "create", "kg-a"}) == kOk);
  std::string k1 = CreateKey("kg-a");
  REQUIRE(Kmscmd({"key", "activate", k1}) == kOk);
  std::vector<uint8_t> blob1, blob2;
  const std::vector<uint8_t> kek2 = PseudoRandomBytes(32, 6);
  {
    auto client = kms_.Client("pool-a", "pool-a", absl::Seconds(5));
    auto w1 = client->Wrap("kg-a", "kek-1", kKek);
    REQUIRE(w1.ok());
    blob1 = w1->blob;
    std::string k2 = CreateKey("kg-a");
    REQUIRE(Kmscmd({"key", "activate", k2}) == kOk);  // k1 turns inactive
    auto w2 = client->Wrap("kg-a", "kek-2", kek2);
    REQUIRE(w2.ok());
    REQUIRE(w2->root_key_id == k2);
    blob2 = w2->blob;
  }
  std::string k2 = kms::WrappedKey::Decode(blob2)->root_key_id;
  std::string k3 = CreateKey("kg-a");  // prelive
  const std::filesystem::path state = kms_.dir() / "kmip-state";
  const std::vector<std::string> rebuild = {SEALKMSD_PATH, "--config", kms_.config_path().string(),
                                            "--rebuild-kmip-state"};
  std::string out;

  // While sealkmsd runs, and then with the state file in place: refused, nothing changes.
  std::string before = ReadFileOrDie(state);
  CHECK(RunCommand(rebuild, &out) == 2);
  CHECK_THAT(out, Catch::Contains("Stop it first"));
  REQUIRE(kms_.Stop() == 0);
  CHECK(RunCommand(rebuild, &out) == 2);
  CHECK_THAT(out, Catch::Contains("already exists"));
  CHECK_THAT(out, Catch::Contains("move the file away first"));
  CHECK(ReadFileOrDie(state) == before);

  // The state file is lost. With the KMS down the rebuild fails cleanly and writes nothing.
  std::filesystem::remove(state);
  kmip_.Stop();
  CHECK(RunCommand(rebuild, &out) == 1);
  CHECK_THAT(out, Catch::Contains("cannot rebuild the KMIP state"));
  CHECK_THAT(out, Catch::Contains("nothing was written"));
  CHECK(!std::filesystem::exists(state));
  CHECK(!std::filesystem::exists(state.string() + ".tmp"));
  kmip_.Start();  // same port, same database

  int rc = RunCommand(rebuild, &out);
  INFO(out);
  REQUIRE(rc == 0);
  // The table: group, key id, KMIP state, sealpool state.
  auto row = [&](const std::string& id) {
    std::istringstream lines(out);
    for (std::string line; std::getline(lines, line);) {
      if (line.rfind("kg-a ", 0) == 0 && line.find(" " + id + " ") != std::string::npos) {
        return line;
      }
    }
    FAIL("no row for " << id);
    return std::string();
  };
  CHECK_THAT(row(k1), Catch::Matches(".*  Active +inactive( .*)?"));
  CHECK_THAT(row(k2), Catch::Matches(".*  Active +active( .*)?"));
  CHECK_THAT(row(k3), Catch::Matches(".*  Pre-Active +prelive( .*)?"));
  CHECK_THAT(out, Catch::Contains("kmscmd key list"));
  CHECK_THAT(out, Catch::Contains("backup"));
  CHECK_THAT(out, Catch::Contains("placeholder"));
  CHECK_THAT(out, Catch::Contains("Pools to reconcile: pool-a"));
  struct stat st {};
  REQUIRE(stat(state.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  // Audited, without key material.
  std::string audit = ReadFileOrDie(kms_.audit_path());
  CHECK_THAT(audit, Catch::Contains("\"op\":\"rebuild-kmip-state\""));
  CHECK_THAT(audit, Catch::Contains(k2));
  CHECK_THAT(audit, !Catch::Contains(ToHex(kKek)));

  // sealkmsd serves from the rebuilt file: both KEKs open, new wraps go to the same key.
  kms_.Start();
  auto client = kms_.Client("pool-a", "pool-a", absl::Seconds(5));
  auto u1 = client->Unwrap("kg-a", "kek-1", blob1);  // under the inactive key
  INFO(u1.status().ToString());
  REQUIRE(u1.ok());
  CHECK(Vec(*u1) == kKek);
  auto u2 = client->Unwrap("kg-a", "kek-2", blob2);
  REQUIRE(u2.ok());
  CHECK(Vec(*u2) == kek2);
  auto w3 = client->Wrap("kg-a", "kek-3", kKek);
  REQUIRE(w3.ok());
  CHECK(w3->root_key_id == k2);
  REQUIRE(Kmscmd({"--json", "key", "list", "--group", "kg-a"}) == kOk);
  CHECK_THAT(out_, Catch::Contains("KEY_STATE_INACTIVE"));
  CHECK_THAT(out_, Catch::Contains("KEY_STATE_PRELIVE"));
  // The registry refills as pools reconcile.
  auto r = client->Reconcile(
      "kg-a", std::vector<kms::KekUsageEntry>{{"kek-1", k1}, {"kek-2", k2}, {"kek-3", k2}});
  REQUIRE(r.ok());
  REQUIRE(Kmscmd({"usage", "--group", "kg-a"}) == kOk);
  CHECK_THAT(out_, Catch::Contains("kek-1"));
  CHECK(Kmscmd({"key", "deprecate", k1}) == kRefused);  // kek-1 still under it
}

}  // namespace
}  // namespace sealpool::test
