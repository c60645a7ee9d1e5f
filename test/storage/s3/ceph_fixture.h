// A throw-away single-node Ceph with an S3 endpoint (ceph-up.sh beside this file), one per test
// process, started on first use and stopped when the process exits (and by ceph-up.sh's
// watcher if the process dies without cleaning up). Skips the test (exit 77) when the Ceph
// packages are missing.
#ifndef SEALPOOL_TEST_STORAGE_S3_CEPH_FIXTURE_H_
#define SEALPOOL_TEST_STORAGE_S3_CEPH_FIXTURE_H_

#include <string>

#include "storage/s3/s3_client.h"

namespace sealpool::test {

class CephS3 {
 public:
  // The process's cluster, started (about 2 s) on the first call. Fails the test if it does not
  // come up.
  static CephS3& Get();
  ~CephS3();

  const std::string& dir() const { return dir_; }
  const std::string& endpoint() const { return endpoint_; }
  const std::string& access_key_id() const { return access_key_id_; }
  const std::string& secret_key_file() const { return secret_key_file_; }
  // A target for `bucket` (path style, region us-east-1).
  storage::s3::S3Target Target(const std::string& bucket) const;
  // A client for `bucket`, which it creates.
  std::unique_ptr<storage::s3::S3Client> Client(const std::string& bucket,
                                                storage::s3::S3ClientOptions options = {}) const;
  // radosgw alone (ceph-rgw.sh): stopped (SIGKILL; returns once its port refuses connections)
  // or started again on the same port (returns once a signed list-buckets answers 200). The
  // monitor and the OSD keep running, so the bucket and its objects survive. Fail the test on
  // error.
  void StopRgw() const;
  void StartRgw() const;
  // A bucket name unique in this process ("t-<pid>-<n>").
  static std::string NewBucketName();

 private:
  CephS3() = default;
  std::string dir_, endpoint_, access_key_id_, secret_key_file_;
};

}  // namespace sealpool::test

#endif  // SEALPOOL_TEST_STORAGE_S3_CEPH_FIXTURE_H_
