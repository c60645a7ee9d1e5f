// The client library against a real sealkmsd that stops and restarts: the key cache keeps
// cached keys usable, other calls fail at the deadline, and the channel reconnects.
#include "kms/client.h"

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "test/kms/kms_test_env.h"
#include "test/test_util.h"

namespace sealpool::test {
namespace {

using std::chrono::milliseconds;

const std::vector<uint8_t> kKek = PseudoRandomBytes(32, 42);

TEST_CASE_METHOD(KmsFixture,
                 "sealkmsd stopped: cached keys unwrap, others fail at the deadline, "
                 "restarted: calls succeed again",
                 "[kms][e2e]") {
  kms().CreateActiveGroup("kg-a");
  auto client = kms().Client("pool-a", "pool-a", absl::Milliseconds(1500));
  auto cached = client->Wrap("kg-a", "kek-1", kKek);
  REQUIRE(cached.ok());
  auto other = kms().Client("pool-a", "pool-a");
  std::vector<uint8_t> kek2 = PseudoRandomBytes(32, 2);
  auto uncached = other->Wrap("kg-a", "kek-2", kek2);
  REQUIRE(uncached.ok());

  REQUIRE(kms().Stop() == 0);
  auto secret = client->Unwrap("kg-a", "kek-1", cached->blob);
  REQUIRE(secret.ok());
  CHECK(Vec(*secret) == kKek);

  auto start = std::chrono::steady_clock::now();
  auto missing = client->Unwrap("kg-a", "kek-2", uncached->blob);
  auto took = std::chrono::steady_clock::now() - start;
  CHECK((missing.status().code() == absl::StatusCode::kUnavailable ||
         missing.status().code() == absl::StatusCode::kDeadlineExceeded));
  CHECK_THAT(std::string(missing.status().message()), Catch::Contains("sealkmsd at"));
  CHECK(took >= milliseconds(1000));
  CHECK(took < milliseconds(4000));
  auto state = client->State();
  CHECK(state.reachability != kms::KmsReachability::kReachable);
  CHECK_FALSE(state.last_error.empty());
  CHECK(state.cached_keys == 1);

  kms().Start();
  auto again = client->Unwrap("kg-a", "kek-2", uncached->blob);
  INFO(again.status().ToString());
  REQUIRE(again.ok());
  CHECK(Vec(*again) == kek2);
  CHECK(client->State().reachability == kms::KmsReachability::kReachable);
}

}  // namespace
}  // namespace sealpool::test
