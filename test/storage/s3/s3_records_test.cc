// The lease and intent records of the S3 LSU (storage/s3/s3_lease.h, s3_orphans.h) against
// truncated, padded, oversized, foreign and garbage input: each is refused with InvalidArgument
// naming the problem, never half-read.
#include <catch2/catch.hpp>
#include <string>

#include "storage/s3/s3_lease.h"
#include "storage/s3/s3_orphans.h"

namespace sealpool::storage::s3 {
namespace {

std::string Str(const absl::Status& s) { return std::string(s.message()); }

LeaseRecord SampleLease() {
  LeaseRecord r;
  r.pool_id.fill(0xab);
  r.generation = 7;
  r.host = "backup-1.example.net";
  r.machine_id = "0123456789abcdef0123456789abcdef";
  r.boot_id = "01234567-89ab-cdef-0123-456789abcdef";
  r.pid = 4242;
  r.start_ticks = 123456;
  r.unix_micros = 1'700'000'000'000'000;
  r.takeover = true;
  return r;
}

IntentRecord SampleIntent() {
  IntentRecord r;
  r.pool_id.fill(0xcd);
  r.container_id = 0x1234;
  r.generation = 3;
  r.unix_micros = 1'700'000'000'000'000;
  return r;
}

TEST_CASE("S3 lease record: round trip and every prefix of it refused", "[s3][unit]") {
  const LeaseRecord r = SampleLease();
  const std::string text = EncodeLeaseRecord(r);
  auto back = DecodeLeaseRecord(text);
  REQUIRE(back.ok());
  CHECK(*back == r);
  CHECK_THAT(DescribeHolder(r),
             Catch::Contains("host backup-1.example.net pid 4242 (generation 7"));
  CHECK_THAT(DescribeHolder(r), Catch::Contains("by takeover"));
  for (size_t n = 0; n < text.size(); ++n) {
    auto cut = DecodeLeaseRecord(text.substr(0, n));
    INFO("cut at " << n);
    CHECK(absl::IsInvalidArgument(cut.status()));
  }
}

TEST_CASE("S3 lease record: hostile and malformed records refused", "[s3][unit]") {
  const std::string good = EncodeLeaseRecord(SampleLease());
  auto refused = [](const std::string& text, const std::string& what) {
    auto r = DecodeLeaseRecord(text);
    INFO(text);
    REQUIRE(absl::IsInvalidArgument(r.status()));
    CHECK_THAT(Str(r.status()), Catch::Contains(what));
  };
  refused("", "empty");
  refused(good + std::string(2000, 'x') + "\n", "over 1024");
  refused(std::string(1024, '\xff'), "does not end in a newline");
  refused("GIF89a garbage\n", "not a 'sealpool-lease 1' record");
  refused("sealpool-lease 2\n", "not a 'sealpool-lease 1' record");
  refused(good + "extra 1\n", "fields, expected 9");
  std::string s = good;
  s.replace(s.find("generation 7"), 12, "generation 07");
  refused(s, "not a number");
  s = good;
  s.replace(s.find("generation 7"), 12, "generation 0");
  refused(s, "generation 0");
  s = good;
  s.replace(s.find("pid 4242"), 8, "pid -1");
  refused(s, "not a number");
  s = good;
  s.replace(s.find("pid 4242"), 8, "pid 99999999999999999999");
  refused(s, "not a number");
  s = good;
  s.replace(s.find("host backup"), 11, "host bad\x1b[2Jhost");
  refused(s, "field 'host'");
  s = good;
  s.replace(s.find("pool ab"), 7, "pool AB");
  refused(s, "not 32 hex digits");
  s = good;
  s.replace(s.find("takeover 1"), 10, "takeover 2");
  refused(s, "takeover is neither");
  s = good;
  s.replace(s.find("host "), 5, "hots ");
  refused(s, "expected field 'host'");
  s = good;
  s.replace(s.find("\npid"), 1, "\r\n");
  refused(s, "");
  s = good;
  s.replace(s.find("host "), 5, "host " + std::string(300, 'a'));
  refused(s, "field 'host'");
}

TEST_CASE("S3 intent record: round trip, truncated, oversized, foreign and garbage refused",
          "[s3][unit]") {
  const IntentRecord r = SampleIntent();
  const std::string text = EncodeIntentRecord(r);
  auto back = DecodeIntentRecord(text);
  REQUIRE(back.ok());
  CHECK(*back == r);
  for (size_t n = 0; n < text.size(); ++n) {
    INFO("cut at " << n);
    CHECK(absl::IsInvalidArgument(DecodeIntentRecord(text.substr(0, n)).status()));
  }
  CHECK(absl::IsInvalidArgument(DecodeIntentRecord(text + std::string(300, ' ')).status()));
  CHECK(absl::IsInvalidArgument(DecodeIntentRecord(EncodeLeaseRecord(SampleLease())).status()));
  CHECK(absl::IsInvalidArgument(DecodeIntentRecord(std::string("\0\0\0\n", 4)).status()));
  std::string s = text;
  s.replace(s.find("container 4660"), 14, "container 0x1234");
  CHECK(absl::IsInvalidArgument(DecodeIntentRecord(s).status()));
  CHECK(IntentKey("p/", r.pool_id, 0x1234) ==
        "p/sealpool-cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd/intents/0000000000001234");
  CHECK(PoolFolder("", r.pool_id) == "sealpool-cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd/");
}

}  // namespace
}  // namespace sealpool::storage::s3
