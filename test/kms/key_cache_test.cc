#include "kms/key_cache.h"

#include <catch2/catch.hpp>
#include <cstdint>
#include <vector>

namespace sealpool::kms {
namespace {

TEST_CASE("the key cache finds exact blobs, evicts the oldest, forgets groups", "[kms][cache]") {
  KeyCache cache(2);
  std::vector<uint8_t> blob1 = {1, 2, 3}, blob2 = {4, 5}, blob3 = {6};
  std::vector<uint8_t> secret(32, 9);
  REQUIRE(cache.Insert("g", "k1", blob1, secret).ok());
  auto hit = cache.Find("g", "k1", blob1);
  REQUIRE(hit.ok());
  REQUIRE(hit->has_value());
  CHECK(std::vector<uint8_t>((*hit)->span().begin(), (*hit)->span().end()) == secret);
  CHECK_FALSE(cache.Find("g", "k1", blob2)->has_value());
  CHECK_FALSE(cache.Find("h", "k1", blob1)->has_value());
  REQUIRE(cache.Insert("g", "k2", blob2, secret).ok());
  REQUIRE(cache.Insert("h", "k3", blob3, secret).ok());
  CHECK(cache.size() == 2);
  CHECK_FALSE(cache.Find("g", "k1", blob1)->has_value());
  cache.ForgetGroup("g");
  CHECK(cache.size() == 1);
  CHECK(cache.Find("h", "k3", blob3)->has_value());
}

}  // namespace
}  // namespace sealpool::kms
