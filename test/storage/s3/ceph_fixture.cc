#include "test/storage/s3/ceph_fixture.h"

#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include <catch2/catch.hpp>

#include "test/test_util.h"

namespace sealpool::test {
namespace {

// No Catch macros here: the destructor runs it at exit, after Catch is gone.
std::string Shell(const std::string& command, int* exit_code) {
  std::string out;
  FILE* p = ::popen(command.c_str(), "r");
  if (p == nullptr) {
    *exit_code = 127;
    return "popen failed";
  }
  char buffer[4096];
  size_t n;
  while ((n = std::fread(buffer, 1, sizeof buffer, p)) > 0) out.append(buffer, n);
  int status = ::pclose(p);
  *exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128;
  return out;
}

}  // namespace

CephS3& CephS3::Get() {
  static std::unique_ptr<CephS3> cluster;
  if (cluster) return *cluster;
  // Short: admin sockets are AF_UNIX paths under it.
  char templ[] = "/tmp/spceph.XXXXXX";
  REQUIRE(::mkdtemp(templ) != nullptr);
  auto c = std::unique_ptr<CephS3>(new CephS3());
  c->dir_ = templ;
  int code = 0;
  std::string out = Shell(std::string(SEALPOOL_CEPH_SCRIPTS_DIR) + "/ceph-up.sh " + c->dir_ +
                              " 60 " + std::to_string(::getpid()) + " 2>&1",
                          &code);
  if (code == 77) {
    std::filesystem::remove_all(c->dir_);
    SkipTest(out);
  }
  if (code != 0) {
    // The logs before the watcher removes the folder.
    int ignored = 0;
    std::string logs = Shell("tail -n 20 " + c->dir_ + "/*.log " + c->dir_ + "/*.out 2>&1",
                             &ignored);
    FAIL("ceph-up.sh failed (" << code << "): " << out << "\n" << logs);
  }
  std::ifstream env(c->dir_ + "/s3.env");
  std::string line;
  while (std::getline(env, line)) {
    auto eq = line.find('=');
    if (eq == std::string::npos) continue;
    std::string k = line.substr(0, eq), v = line.substr(eq + 1);
    if (k == "S3_ENDPOINT") c->endpoint_ = v;
    if (k == "S3_ACCESS_KEY_ID") c->access_key_id_ = v;
    if (k == "S3_SECRET_KEY_FILE") c->secret_key_file_ = v;
  }
  REQUIRE(!c->endpoint_.empty());
  REQUIRE(!c->access_key_id_.empty());
  REQUIRE(!c->secret_key_file_.empty());
  cluster = std::move(c);
  return *cluster;
}

CephS3::~CephS3() {
  int ignored = 0;
  Shell(std::string(SEALPOOL_CEPH_SCRIPTS_DIR) + "/ceph-down.sh " + dir_ + " 2>&1", &ignored);
  if (std::getenv("SEALPOOL_KEEP_TEST_DIRS") == nullptr) {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
}

storage::s3::S3Target CephS3::Target(const std::string& bucket) const {
  storage::s3::S3Target t;
  t.endpoint = endpoint_;
  t.bucket = bucket;
  t.access_key_id = access_key_id_;
  return t;
}

std::unique_ptr<storage::s3::S3Client> CephS3::Client(const std::string& bucket,
                                                      storage::s3::S3ClientOptions options) const {
  auto secret = storage::s3::ReadSecretKeyFile(secret_key_file_);
  REQUIRE(secret.ok());
  auto client = storage::s3::S3Client::Create(Target(bucket), std::move(*secret), options);
  REQUIRE(client.ok());
  absl::Status created = (*client)->CreateBucket();
  INFO(created.ToString());
  REQUIRE(created.ok());
  return std::move(*client);
}

void CephS3::StopRgw() const {
  int code = 0;
  std::string out = Shell(std::string(SEALPOOL_CEPH_SCRIPTS_DIR) + "/ceph-rgw.sh " + dir_ +
                              " stop 60 2>&1",
                          &code);
  INFO(out);
  REQUIRE(code == 0);
}

void CephS3::StartRgw() const {
  int code = 0;
  std::string out = Shell(std::string(SEALPOOL_CEPH_SCRIPTS_DIR) + "/ceph-rgw.sh " + dir_ +
                              " start 60 2>&1",
                          &code);
  INFO(out);
  REQUIRE(code == 0);
}

std::string CephS3::NewBucketName() {
  static std::atomic<int> n{0};
  return "t-" + std::to_string(::getpid()) + "-" + std::to_string(n++);
}

}  // namespace sealpool::test
