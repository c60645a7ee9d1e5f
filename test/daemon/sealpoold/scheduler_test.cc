// Unit tests of daemon/sealpoold/scheduler.cc (the rest of sealpoold is tested end to end).
#include <catch2/catch.hpp>

#include "daemon/sealpoold/scheduler.h"

namespace sealpool::test {
namespace {

TEST_CASE("scheduler: quiet hours, also across midnight", "[unit][sealpoold]") {
  using daemon::InQuietHours;
  CHECK(InQuietHours(60, {0, 120}));
  CHECK_FALSE(InQuietHours(120, {0, 120}));
  CHECK(InQuietHours(23 * 60, {22 * 60, 6 * 60}));
  CHECK(InQuietHours(5 * 60, {22 * 60, 6 * 60}));
  CHECK_FALSE(InQuietHours(12 * 60, {22 * 60, 6 * 60}));
}

}  // namespace
}  // namespace sealpool::test
