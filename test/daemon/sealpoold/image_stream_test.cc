// Unit tests of daemon/sealpoold/image_stream.cc (the rest of sealpoold is tested end to end).
#include <catch2/catch.hpp>

#include "daemon/sealpoold/image_stream.h"

namespace sealpool::test {
namespace {

TEST_CASE("image_stream: times cross the wire as Unix microseconds, 0 for none",
          "[unit][sealpoold]") {
  CHECK(daemon::UnixMicros(absl::InfinitePast()) == 0);
  CHECK(daemon::FromUnixMicrosOrNone(0) == absl::InfinitePast());
  CHECK(daemon::FromUnixMicrosOrNone(-5) == absl::InfinitePast());
  const absl::Time t = absl::FromUnixMicros(1764842523123456);
  CHECK(daemon::FromUnixMicrosOrNone(daemon::UnixMicros(t)) == t);
}

}  // namespace
}  // namespace sealpool::test
