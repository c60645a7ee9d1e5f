// The one conversion of OpenSSL's error queue into a Status (crypto/openssl_util_internal.h).
#include "crypto/openssl_util_internal.h"

#include <openssl/err.h>
#include <openssl/evp.h>

#include <catch2/catch.hpp>
#include <string>

namespace sealpool::crypto::internal {
namespace {

// Queues a real OpenSSL error: fetching an algorithm no provider has.
void QueueUnsupportedFetchError() {
  ERR_clear_error();
  EVP_CIPHER* cipher = EVP_CIPHER_fetch(nullptr, "NO-SUCH-CIPHER-SEALPOOL", nullptr);
  REQUIRE(cipher == nullptr);
  REQUIRE(ERR_peek_error() != 0);
}

TEST_CASE("an OpenSSL failure becomes Internal naming the step and OpenSSL's reason",
          "[crypto][openssl]") {
  QueueUnsupportedFetchError();
  absl::Status status = OpenSslError("fetching the test cipher");
  CHECK(status.code() == absl::StatusCode::kInternal);
  std::string message(status.message());
  CHECK(message.rfind("fetching the test cipher failed: ", 0) == 0);
  CHECK(message.find("unsupported") != std::string::npos);
  CHECK(message.find("no OpenSSL error queued") == std::string::npos);
}

TEST_CASE("reporting an OpenSSL error empties the thread's error queue", "[crypto][openssl]") {
  QueueUnsupportedFetchError();
  (void)OpenSslError("first");  // deliberately discarded: only the queue is under test
  CHECK(ERR_peek_error() == 0);
  // A later failure with nothing queued says so instead of repeating stale errors.
  absl::Status later = OpenSslError("second");
  CHECK(later.code() == absl::StatusCode::kInternal);
  CHECK(std::string(later.message()) == "second failed: no OpenSSL error queued");
}

TEST_CASE("ClearOpenSslErrors drops queued errors", "[crypto][openssl]") {
  QueueUnsupportedFetchError();
  ClearOpenSslErrors();
  CHECK(ERR_peek_error() == 0);
}

}  // namespace
}  // namespace sealpool::crypto::internal
