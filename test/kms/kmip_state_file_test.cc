// The KMIP backend's local state file: round trip, damage and version checks, atomic saves,
// exclusive lock.
#include "kms/kmip_state_file.h"

#include <openssl/evp.h>
#include <sys/stat.h>

#include <catch2/catch.hpp>

#include "test/kms/kms_test_env.h"

namespace sealpool::kms {
namespace {

KeyStoreContents Sample() {
  KeyStoreContents c;
  c.generation = 7;
  c.groups["kg-a"] = StoredGroup{"kg-a", 1700000000};
  c.keys["kmip-12"] =
      StoredRootKey{"kmip-12", "kg-a", RootKeyState::kInactive, 1700000001, 1700000002, nullptr};
  c.keys["kmip-13"] =
      StoredRootKey{"kmip-13", "kg-a", RootKeyState::kActive, 1700000003, 1700000004, nullptr};
  c.usage[UsageKey("pool-a", "kg-a", "kek-1")] = "kmip-12";
  return c;
}

TEST_CASE("KMIP state file round-trips its contents", "[kmip]") {
  std::string text = KmipStateFile::Encode(Sample());
  auto c = KmipStateFile::Decode(text);
  REQUIRE(c.ok());
  CHECK(c->generation == 7);
  CHECK(c->groups.size() == 1);
  REQUIRE(c->keys.size() == 2);
  CHECK(c->keys.at("kmip-12").state == RootKeyState::kInactive);
  CHECK(c->keys.at("kmip-13").state_changed_unix == 1700000004);
  CHECK(c->keys.at("kmip-13").material == nullptr);
  CHECK(c->usage.at(UsageKey("pool-a", "kg-a", "kek-1")) == "kmip-12");
  CHECK(KmipStateFile::Encode(*c) == text);
}

TEST_CASE("KMIP state file keeps pending KMS changes, and reads version 1 files", "[kmip]") {
  KeyStoreContents c = Sample();
  c.pending.push_back({"r0123abcd", PendingKmsChange::Op::kCreate, "kg-a", "", false, 1700000005});
  c.pending.push_back(
      {"r4567ef01", PendingKmsChange::Op::kDestroy, "kg-a", "kmip-12", true, 1700000006});
  std::string text = KmipStateFile::Encode(c);
  CHECK_THAT(text, Catch::StartsWith("sealpool-kmip-state 3\n") &&
                       Catch::Contains("pending r0123abcd 1 kg-a - 0 1700000005\n"
                                       "pending r4567ef01 4 kg-a kmip-12 1 1700000006\n"));
  auto back = KmipStateFile::Decode(text);
  REQUIRE(back.ok());
  REQUIRE(back->pending.size() == 2);
  CHECK(back->pending[0].key_id.empty());
  CHECK(back->pending[1].op == PendingKmsChange::Op::kDestroy);
  CHECK(back->pending[1].erase);
  CHECK(KmipStateFile::Encode(*back) == text);

  // A version 1 file (no pending records) is read as is.
  std::string body = KmipStateFile::Encode(Sample());
  body = body.substr(0, body.rfind("sha256 "));
  body.replace(0, body.find('\n'), "sealpool-kmip-state 1");
  unsigned char md[32];
  unsigned int n = 0;
  EVP_Digest(body.data(), body.size(), md, &n, EVP_sha256(), nullptr);
  auto v1 = KmipStateFile::Decode(body + "sha256 " + test::ToHex({md, md + n}) + "\n");
  INFO(v1.status().ToString());
  REQUIRE(v1.ok());
  CHECK(v1->keys.size() == 2);
  CHECK(v1->pending.empty());
}

TEST_CASE("KMIP state file refuses damage, edits and newer versions", "[kmip]") {
  std::string text = KmipStateFile::Encode(Sample());
  std::string edited = text;
  edited[edited.find(" 3 ") + 1] = '2';  // inactive → active by hand
  CHECK(KmipStateFile::Decode(edited).status().code() == absl::StatusCode::kDataLoss);
  CHECK(KmipStateFile::Decode(text.substr(0, text.size() - 10)).status().code() ==
        absl::StatusCode::kDataLoss);
  CHECK(KmipStateFile::Decode("").status().code() == absl::StatusCode::kDataLoss);
  CHECK(KmipStateFile::Decode("garbage").status().code() == absl::StatusCode::kDataLoss);
  std::string newer = text;
  newer.replace(newer.find(" 3\n"), 3, " 4\n");
  auto n = KmipStateFile::Decode(newer);
  CHECK(n.status().code() == absl::StatusCode::kDataLoss);  // checksum covers the version too
}

TEST_CASE("KMIP state file saves atomically, is 0600 and locked while open", "[kmip]") {
  test::TempDir dir;
  auto path = dir.path() / "kmip-state";
  {
    auto f = KmipStateFile::Create(path);
    REQUIRE(f.ok());
    CHECK(KmipStateFile::Create(path).status().code() == absl::StatusCode::kAlreadyExists);
    REQUIRE((*f)->Save(Sample()).ok());
    CHECK(KmipStateFile::Open(path).status().code() == absl::StatusCode::kFailedPrecondition);
    CHECK(!std::filesystem::exists(dir.path() / "kmip-state.tmp"));
  }
  struct stat st {};
  REQUIRE(stat(path.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  auto opened = KmipStateFile::Open(path);
  REQUIRE(opened.ok());
  CHECK(opened->second.keys.size() == 2);
  opened->first.reset();
  chmod(path.c_str(), 0644);
  CHECK(KmipStateFile::Open(path).status().code() == absl::StatusCode::kFailedPrecondition);
  CHECK(KmipStateFile::Open(dir.path() / "none").status().code() == absl::StatusCode::kNotFound);
}

TEST_CASE("KMIP state file reserved for a rebuild: locked, written only by its first save",
          "[kmip]") {
  test::TempDir dir;
  auto path = dir.path() / "kmip-state";
  {
    auto reserved = KmipStateFile::Reserve(path);
    REQUIRE(reserved.ok());
    CHECK(!std::filesystem::exists(path));  // nothing written yet
    // Another reservation, an --init-store or a sealkmsd meanwhile: refused by the lock.
    CHECK(KmipStateFile::Reserve(path).status().code() == absl::StatusCode::kFailedPrecondition);
    CHECK(KmipStateFile::Create(path).status().code() == absl::StatusCode::kFailedPrecondition);
    CHECK(KmipStateFile::Open(path).status().code() == absl::StatusCode::kFailedPrecondition);
    REQUIRE((*reserved)->Save(Sample()).ok());
    CHECK((*reserved)->path() == path);
  }
  struct stat st {};
  REQUIRE(stat(path.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  std::string before = test::ReadFileOrDie(path);
  // Never over an existing file, even a dangling symlink.
  auto again = KmipStateFile::Reserve(path);
  CHECK(again.status().code() == absl::StatusCode::kAlreadyExists);
  CHECK_THAT(std::string(again.status().message()), Catch::Contains("already exists"));
  CHECK(test::ReadFileOrDie(path) == before);
  std::filesystem::create_symlink(dir.path() / "nowhere", dir.path() / "link");
  CHECK(KmipStateFile::Reserve(dir.path() / "link").status().code() ==
        absl::StatusCode::kAlreadyExists);
  auto opened = KmipStateFile::Open(path);
  REQUIRE(opened.ok());
  CHECK(opened->second.keys.size() == 2);
  // A locked file is reported as in use before its existence.
  auto locked = KmipStateFile::Reserve(path);
  CHECK(locked.status().code() == absl::StatusCode::kFailedPrecondition);
  CHECK_THAT(std::string(locked.status().message()), Catch::Contains("in use"));
}

}  // namespace
}  // namespace sealpool::kms
