// The S3 client against a real Ceph RADOS Gateway (ceph-up.sh: one mon, one memstore OSD,
// radosgw on 127.0.0.1; one cluster per test process, about 2 s to start).
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "storage/s3/s3_client.h"
#include "test/storage/s3/ceph_fixture.h"
#include "test/test_util.h"

namespace sealpool::storage::s3 {
namespace {

using test::CephS3;

std::span<const uint8_t> Span(const std::vector<uint8_t>& v) { return {v.data(), v.size()}; }

TEST_CASE("radosgw: put / ranged get / head / list with continuation / delete", "[s3][radosgw]") {
  CephS3& ceph = CephS3::Get();
  S3ClientOptions options;
  options.max_list_keys = 2;  // five keys: three pages
  auto client = ceph.Client(CephS3::NewBucketName(), options);

  std::vector<uint8_t> data = test::PseudoRandomBytes(100000, 1);
  REQUIRE(client->Put("pool/a/0001", Span(data)).ok());
  for (int i = 2; i <= 5; ++i) {
    REQUIRE(client->Put("pool/a/000" + std::to_string(i), Span(test::PseudoRandomBytes(10, static_cast<uint64_t>(i))))
                .ok());
  }
  REQUIRE(client->Put("other/x", Span(data)).ok());
  // Replacing an object is allowed (a retried PUT writes the same bytes again).
  REQUIRE(client->Put("pool/a/0001", Span(data)).ok());

  auto range = client->Get("pool/a/0001", 4096, 1000);
  REQUIRE(range.ok());
  CHECK(*range == std::vector<uint8_t>(data.begin() + 4096, data.begin() + 5096));
  auto tail = client->Get("pool/a/0001", 99990, 1000);  // fewer at the end
  REQUIRE(tail.ok());
  CHECK(*tail == std::vector<uint8_t>(data.end() - 10, data.end()));
  CHECK(absl::IsOutOfRange(client->Get("pool/a/0001", 100000, 10).status()));
  auto whole = client->GetObject("pool/a/0001", 1 << 20);
  REQUIRE(whole.ok());
  CHECK(*whole == data);
  CHECK(absl::IsUnavailable(client->GetObject("pool/a/0001", 1000).status()));

  auto head = client->Head("pool/a/0001");
  REQUIRE(head.ok());
  CHECK(head->size == 100000);
  CHECK(!head->etag.empty());

  auto listed = client->List("pool/");
  REQUIRE(listed.ok());
  REQUIRE(listed->size() == 5);
  for (int i = 1; i <= 5; ++i) {
    CHECK((*listed)[static_cast<size_t>(i - 1)].key == "pool/a/000" + std::to_string(i));
  }
  CHECK((*listed)[0].size == 100000);
  CHECK((*listed)[1].size == 10);
  {
    // By kind: 1 bucket create, 7 PUTs, 3 GETs, 1 HEAD, 3 list pages so far.
    const S3ClientCounters c = client->counters();
    CHECK(c.of(S3RequestKind::kCreateBucket) == 1);
    CHECK(c.of(S3RequestKind::kPut) == 7);
    CHECK(c.of(S3RequestKind::kGet) == 5);  // 2 ranged + 1 past the end + 2 whole
    CHECK(c.of(S3RequestKind::kHead) == 1);
    CHECK(c.of(S3RequestKind::kList) == 3);
    uint64_t sum = 0;
    for (uint64_t n : c.by_kind) sum += n;
    CHECK(sum == c.requests);
    CHECK(c.get_class() == 6);
    CHECK(std::string(S3RequestKindName(S3RequestKind::kMultipartPart)) == "multipart_part");
    // One thread: the handle pool reuses its kept-alive connection for every request, but for
    // the one after the over-long GetObject, whose transfer the client aborted (closing it).
    CHECK(c.connections == 2);
  }

  REQUIRE(client->Delete("pool/a/0001").ok());
  REQUIRE(client->Delete("pool/a/0001").ok());  // idempotent
  auto gone = client->Get("pool/a/0001", 0, 10);
  CHECK(absl::IsNotFound(gone.status()));
  CHECK_THAT(std::string(gone.status().message()), Catch::Contains("NoSuchKey"));
  CHECK(absl::IsNotFound(client->Head("pool/a/0001").status()));
  auto after = client->List("pool/");
  REQUIRE(after.ok());
  CHECK(after->size() == 4);
}

TEST_CASE("radosgw: multipart put above the threshold round trips bit-exact", "[s3][radosgw]") {
  CephS3& ceph = CephS3::Get();
  S3ClientOptions options;
  options.part_size = 5ull << 20;
  options.multipart_threshold = 5ull << 20;
  auto client = ceph.Client(CephS3::NewBucketName(), options);
  std::vector<uint8_t> data = test::PseudoRandomBytes((12ull << 20) + 123, 7);
  const S3ClientCounters before = client->counters();
  REQUIRE(client->Put("big/object", Span(data)).ok());
  // initiate + 3 parts + complete, each counted by its kind
  const S3ClientCounters after = client->counters();
  CHECK(after.requests - before.requests == 5);
  CHECK(after.of(S3RequestKind::kMultipartInitiate) -
            before.of(S3RequestKind::kMultipartInitiate) == 1);
  CHECK(after.of(S3RequestKind::kMultipartPart) - before.of(S3RequestKind::kMultipartPart) == 3);
  CHECK(after.of(S3RequestKind::kMultipartComplete) -
            before.of(S3RequestKind::kMultipartComplete) == 1);
  CHECK(after.of(S3RequestKind::kPut) == before.of(S3RequestKind::kPut));
  CHECK(after.put_class() - before.put_class() == 5);
  auto head = client->Head("big/object");
  REQUIRE(head.ok());
  CHECK(head->size == data.size());
  CHECK_THAT(head->etag, Catch::EndsWith("-3\""));  // a multipart object's ETag
  auto whole = client->GetObject("big/object", data.size());
  REQUIRE(whole.ok());
  CHECK(*whole == data);
  // A range across the first part boundary.
  auto across = client->Get("big/object", (5ull << 20) - 10, 20);
  REQUIRE(across.ok());
  CHECK(*across == std::vector<uint8_t>(data.begin() + (5 << 20) - 10,
                                        data.begin() + (5 << 20) + 10));
}

TEST_CASE("radosgw: a wrong secret is PermissionDenied and a missing bucket NotFound",
          "[s3][radosgw]") {
  CephS3& ceph = CephS3::Get();
  std::string bucket = CephS3::NewBucketName();
  auto good = ceph.Client(bucket);
  const std::string wrong_secret = "WRONGSECRETwrongsecret0123456789";
  auto secret = crypto::SecretBytes::Allocate(wrong_secret.size());
  REQUIRE(secret.ok());
  std::copy(wrong_secret.begin(), wrong_secret.end(), secret->mutable_span().begin());
  auto bad = S3Client::Create(ceph.Target(bucket), std::move(*secret), {});
  REQUIRE(bad.ok());
  absl::Status s = (*bad)->Put("k", Span(test::PseudoRandomBytes(10, 1)));
  CHECK(absl::IsPermissionDenied(s));
  CHECK_THAT(std::string(s.message()), Catch::Contains("SignatureDoesNotMatch"));
  CHECK_THAT(std::string(s.message()), !Catch::Contains(wrong_secret));
  CHECK((*bad)->counters().requests == 1);  // a 403 is not retried

  auto secret2 = ReadSecretKeyFile(ceph.secret_key_file());
  REQUIRE(secret2.ok());
  auto nobucket = S3Client::Create(ceph.Target("no-such-bucket-here"), std::move(*secret2), {});
  REQUIRE(nobucket.ok());
  absl::Status missing = (*nobucket)->Put("k", Span(test::PseudoRandomBytes(10, 1)));
  CHECK(absl::IsNotFound(missing));
  CHECK_THAT(std::string(missing.message()), Catch::Contains("NoSuchBucket"));
}

}  // namespace
}  // namespace sealpool::storage::s3
