// The key store file through KeyStore: persistence, permissions, locking, damaged files,
// passphrase changes, and creation never overwriting a store.
#include "kms/key_store_file.h"

#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "kms/key_store.h"
#include "test/kms/kms_test_env.h"
#include "test/test_util.h"

namespace sealpool::kms {
namespace {

using test::Bytes;
using test::kFastScrypt;
using test::ReadFileOrDie;
using test::StoreFixture;

const std::vector<uint8_t> kKek = test::PseudoRandomBytes(32, 7);
const WrapContext kCtx{"pool-a", "g", "kek-1"};

TEST_CASE_METHOD(StoreFixture, "the store persists across reopen and wraps the same",
                 "[kms][key_store]") {
  std::string id = ActiveGroup("g");
  auto wrapped = store().Wrap(kCtx, kKek);
  REQUIRE(wrapped.ok());
  ReopenOrDie("old passphrase");
  auto r = store().Unwrap(kCtx, wrapped->wrapped, false);
  REQUIRE(r.ok());
  CHECK(r->root_key_id == id);
  CHECK(store().ListUsage("", "").size() == 1);
  struct stat st {};
  REQUIRE(::stat(path().c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
}

TEST_CASE_METHOD(StoreFixture, "a wrong passphrase is refused and the file is untouched",
                 "[kms][key_store]") {
  ActiveGroup("g");
  Close();
  std::string before = ReadFileOrDie(path());
  auto r = Reopen("wrong passphrase");
  CHECK(r.status().code() == absl::StatusCode::kPermissionDenied);
  CHECK_THAT(std::string(r.status().message()), Catch::Contains("wrong passphrase"));
  CHECK(ReadFileOrDie(path()) == before);
}

TEST_CASE_METHOD(StoreFixture, "a truncated or corrupt store is data loss, untouched",
                 "[kms][key_store]") {
  ActiveGroup("g");
  Close();
  std::string good = ReadFileOrDie(path());
  auto expect = [&](const std::string& content, absl::StatusCode code, const char* what) {
    test::WriteFileOrDie(path(), content, 0600);
    auto r = Reopen("old passphrase");
    INFO(what << ": " << r.status().ToString());
    CHECK(r.status().code() == code);
    CHECK(ReadFileOrDie(path()) == content);
  };
  expect(good.substr(0, good.size() - 1), absl::StatusCode::kDataLoss, "truncated by one");
  expect(good.substr(0, 100), absl::StatusCode::kDataLoss, "truncated in the header");
  expect("", absl::StatusCode::kDataLoss, "empty");
  expect(good + "x", absl::StatusCode::kDataLoss, "extended");
  std::string flipped = good;
  flipped[good.size() - 5] ^= 0x40;
  expect(flipped, absl::StatusCode::kDataLoss, "flipped payload byte");
  std::string magic = good;
  magic[0] = 'X';
  expect(magic, absl::StatusCode::kDataLoss, "bad magic");
  std::string newer = good;
  newer[8] = 3;  // format version 3
  expect(newer, absl::StatusCode::kFailedPrecondition, "newer version");
  test::WriteFileOrDie(path(), good, 0600);
  ReopenOrDie("old passphrase");
}

TEST_CASE_METHOD(StoreFixture, "a store readable by others or already open is refused",
                 "[kms][key_store]") {
  CHECK(KeyStore::Open(path(), Bytes("old passphrase")).status().code() ==
        absl::StatusCode::kFailedPrecondition);  // locked by this fixture's store
  Close();
  std::filesystem::permissions(path(), std::filesystem::perms::owner_read |
                                           std::filesystem::perms::owner_write |
                                           std::filesystem::perms::others_read);
  CHECK(Reopen("old passphrase").status().code() == absl::StatusCode::kFailedPrecondition);
  std::filesystem::permissions(
      path(), std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  ReopenOrDie("old passphrase");
  CHECK(KeyStore::Create(path(), Bytes("x"), kFastScrypt).status().code() ==
        absl::StatusCode::kFailedPrecondition);  // locked
}

TEST_CASE_METHOD(StoreFixture, "changing the passphrase re-encrypts the store",
                 "[kms][key_store]") {
  std::string id = ActiveGroup("g");
  REQUIRE(store().ChangePassphrase(Bytes("new passphrase")).ok());
  CHECK(store().CreateKey("g").ok());  // later saves use the new passphrase too
  CHECK(Reopen("old passphrase").status().code() == absl::StatusCode::kPermissionDenied);
  ReopenOrDie("new passphrase");
  CHECK(store().ListKeys("g")->size() == 2);
  CHECK(store().ChangePassphrase(Bytes("")).code() == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("creating a store never overwrites one", "[kms][key_store]") {
  test::TempDir dir;
  auto path = dir.path() / "keystore";
  test::WriteFileOrDie(path, "precious", 0600);
  CHECK(KeyStore::Create(path, Bytes("p"), kFastScrypt).status().code() ==
        absl::StatusCode::kAlreadyExists);
  CHECK(ReadFileOrDie(path) == "precious");
  CHECK(KeyStore::Open(dir.path() / "missing", Bytes("p")).status().code() ==
        absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace sealpool::kms
