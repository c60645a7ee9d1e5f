// Unit tests of daemon/sealpoold/pool_audit.cc (the rest of sealpoold is tested end to end).
#include <catch2/catch.hpp>

#include "daemon/sealpoold/pool_audit.h"
#include "test/kms/kms_test_env.h"

namespace sealpool::test {
namespace {

TEST_CASE("pool_audit: one JSON line, names escaped, no field for secrets", "[unit][sealpoold]") {
  daemon::PoolAuditEvent e{"alice", "client", "delete", "lsu\"1", "alice", "img\n2", "", "",
                           absl::NotFoundError("no image")};
  const std::string line =
      daemon::FormatPoolAuditLine(e, absl::FromUnixSeconds(1764842523) + absl::Milliseconds(120));
  CHECK(line ==
        "{\"time\":\"2025-12-04T10:02:03.120Z\",\"actor\":\"alice\",\"role\":\"client\","
        "\"op\":\"delete\",\"lsu\":\"lsu\\\"1\",\"owner\":\"alice\",\"image\":\"img\\n2\","
        "\"key_group\":\"\",\"detail\":\"\",\"result\":\"NOT_FOUND: no image\"}");
  TempDir dir;
  auto log = daemon::PoolAuditLog::Open(dir.path() / "sub" / "audit.jsonl");
  REQUIRE(log.ok());
  REQUIRE((*log)->Record(e).ok());
  CHECK(ReadFileOrDie(dir.path() / "sub" / "audit.jsonl").find("\"op\":\"delete\"") !=
        std::string::npos);
}

}  // namespace
}  // namespace sealpool::test
