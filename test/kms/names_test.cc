// Validation of names (names.cc) and sizes where they enter the key store: group names, pool
// ids, and the size of the secrets it wraps.
#include "kms/names.h"

#include <catch2/catch.hpp>
#include <cstdint>
#include <string>
#include <vector>

#include "kms/key_store.h"
#include "test/kms/kms_test_env.h"
#include "test/test_util.h"

namespace sealpool::kms {
namespace {

using test::StoreFixture;
using S = RootKeyState;

const std::vector<uint8_t> kKek = test::PseudoRandomBytes(32, 7);
const WrapContext kCtx{"pool-a", "g", "kek-1"};

TEST_CASE_METHOD(StoreFixture, "names and sizes are validated", "[kms][key_store]") {
  CHECK(store().CreateGroup("").status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(store().CreateGroup(std::string(65, 'a')).status().code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(store().CreateGroup("a/b").status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(store().CreateGroup(std::string("a\0b", 3)).status().code() ==
        absl::StatusCode::kInvalidArgument);
  ActiveGroup("g");
  CHECK(store().CreateGroup("g").status().code() == absl::StatusCode::kAlreadyExists);
  std::vector<uint8_t> small(15), big(65);
  CHECK(store().Wrap(kCtx, small).status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(store().Wrap(kCtx, big).status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(store().Wrap({"pool a", "g", "k"}, kKek).status().code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(store().CreateKey("missing").status().code() == absl::StatusCode::kNotFound);
  CHECK(store().SetKeyState("rk-missing", S::kActive).status().code() ==
        absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace sealpool::kms
