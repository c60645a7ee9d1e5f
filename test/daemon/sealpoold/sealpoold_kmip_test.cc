// sealpoold end to end with its key group's root keys in an external KMS: a real PyKMIP
// server behind a real sealkmsd, and a real sealpoold.
#include <grpcpp/grpcpp.h>

#include <catch2/catch.hpp>
#include <sstream>

#include "test/daemon/sealpoold/sealpoold_test_env.h"
#include "test/kms/kmip/pykmip_server.h"

namespace sealpool::test {
namespace {

namespace v1 = pool::v1;
using absl::StatusCode;

TEST_CASE("sealpoold: two generations round trip with the root key in a KMIP server",
          "[e2e][sealpoold][kmip][pykmip]") {
  RequirePyKmip();
  PyKmipServer kmip;
  kmip.Start();
  TempDir dir;
  Sealkmsd kms(dir.path() / "kms");
  std::ostringstream c;
  c << "[kmip]\nserver = \"127.0.0.1:" << kmip.port() << "\"\n"
    << "ca = \"" << (kmip.dir() / "ca.crt").string() << "\"\n"
    << "cert = \"" << (kmip.dir() / "sealkmsd.crt").string() << "\"\n"
    << "key = \"" << (kmip.dir() / "sealkmsd.key").string() << "\"\n"
    << "state = \"kmip-state\"\ntimeout_seconds = 5\nkey_groups = [\"kg-shared\"]\n";
  kms.SetExtraConfig(c.str());
  std::string out;
  REQUIRE(RunCommand({SEALKMSD_PATH, "--config", kms.config_path().string(), "--init-store"},
                     &out) == 0);
  kms.Start();
  const std::string root = kms.CreateActiveGroup("kg-shared");
  REQUIRE(root.rfind("kmip-", 0) == 0);

  Sealpoold pool(dir.path() / "poold", &kms);
  pool.SetTables(
      "[[key_group]]\nname = \"kg-shared\"\nbackend = \"kmip\"\n"
      "[[lsu]]\nname = \"lsuk\"\nkey_group = \"kg-shared\"\n"
      "[[client]]\ncn = \"alice\"\n"
      "[[client.access]]\nlsu = \"lsuk\"\nallow = [\"backup\", \"restore\"]\n");
  pool.Start();
  auto alice = pool.Client("alice");
  auto admin = pool.Admin();
  auto [gen1, gen2] = TwoGenerations(6 << 20, 11);
  REQUIRE(Backup(*alice, "lsuk", "gen1", gen1).ok());
  REQUIRE(Backup(*alice, "lsuk", "gen2", gen2).ok());
  {
    grpc::ClientContext ctx;
    v1::ListKeysResponse keys;
    REQUIRE(admin->ListKeys(&ctx, {}, &keys).ok());
    REQUIRE(keys.key_groups_size() == 1);
    CHECK(keys.key_groups(0).kms_backend() == "kmip");
    REQUIRE(keys.key_groups(0).keks_size() >= 1);
    CHECK(keys.key_groups(0).keks(0).root_key_id() == root);
    CHECK(keys.key_groups(0).fingerprint_key_root_key_id() == root);
  }
  {
    grpc::ClientContext ctx;
    v1::AdminImageRef ref;
    ref.set_lsu("lsuk");
    ref.set_owner("alice");
    ref.set_name("gen1");
    v1::DeleteImageResponse del;
    REQUIRE(admin->DeleteImage(&ctx, ref, &del).ok());
    grpc::ClientContext ctx2;
    v1::ProcessQueueResponse q;
    REQUIRE(admin->ProcessQueue(&ctx2, {}, &q).ok());
    CHECK(q.segments_erased() > 0);
  }
  // A restart empties every key cache: the KEKs come back through KMIP Decrypt.
  REQUIRE(pool.Stop() == 0);
  pool.Start();
  alice = pool.Client("alice");
  auto back = Restore(*alice, "lsuk", "gen2");
  INFO(back.status());
  REQUIRE(back.ok());
  CHECK(*back == gen2);
  CHECK(Restore(*alice, "lsuk", "gen1").status().code() == StatusCode::kNotFound);
  REQUIRE(pool.Stop() == 0);
  REQUIRE(kms.Stop() == 0);  // before PyKMIP, which waits for connected clients
}

}  // namespace
}  // namespace sealpool::test
