// A KMIP client over TLS (OpenSSL): one connection, reused for every call and re-established
// after a drop; TLS 1.2 or later with a client certificate, the server verified against the
// configured CA and name; the protocol version negotiated with DiscoverVersions on every new
// connection (the highest of 1.4, 1.3, 1.2 the server offers); every call bounded by a
// deadline (connect, handshake, write and read included).
//
// Retries: when a reused connection turns out to be dead (the write fails, or the server
// closes it before sending a single byte of the response) the request is sent once more on a
// fresh connection, within the same deadline. Nothing else is retried.
//
// Errors: Unavailable (cannot connect, TLS handshake refused, connection lost),
// DeadlineExceeded (the deadline passed), InvalidArgument (a malformed response; the
// connection is dropped), and the statuses of kmip_codec.h for a refused operation.
//
// Thread-safe: calls are serialized on the one connection (KMIP servers answer in order).
// Plaintext passing through (Encrypt requests, Decrypt responses, Get responses) is wiped
// from this code's buffers; OpenSSL's own record buffers are out of its reach.
#ifndef SEALPOOL_KMS_KMIP_KMIP_CLIENT_H_
#define SEALPOOL_KMS_KMIP_KMIP_CLIENT_H_

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "crypto/secure_memory.h"
#include "kms/kmip/kmip_codec.h"

namespace sealpool::kms::kmip {

struct KmipClientOptions {
  std::string host;  // name or IP address
  int port = 5696;
  // The name the server certificate must carry (DNS SAN or IP SAN); `host` when empty.
  std::string server_name;
  std::string ca_pem;
  std::string cert_pem;
  std::string key_pem;
  absl::Duration call_deadline = absl::Seconds(10);
  size_t max_response_size = size_t{1} << 20;
};

class KmipClient {
 public:
  // Checks and loads the certificates; does not connect (the first call does).
  static absl::StatusOr<std::unique_ptr<KmipClient>> Create(const KmipClientOptions& options);
  ~KmipClient();
  KmipClient(const KmipClient&) = delete;
  KmipClient& operator=(const KmipClient&) = delete;

  // The version negotiated on the current connection (connects if needed).
  absl::StatusOr<ProtocolVersion> Version();
  // The versions the server offers (DiscoverVersions with an empty list).
  absl::StatusOr<std::vector<ProtocolVersion>> DiscoverVersions();
  absl::StatusOr<QueryResult> Query();

  // A Pre-Active AES-256 key; returns its Unique Identifier.
  absl::StatusOr<std::string> CreateAesKey(std::string_view name, std::string_view group);
  absl::Status Activate(std::string_view uid);
  absl::StatusOr<std::vector<std::string>> Locate(std::string_view group, int32_t max_items = 1000);
  // The attributes of KeyAttributeNames() (those the server has).
  absl::StatusOr<KeyAttributes> GetAttributes(std::string_view uid);
  absl::StatusOr<crypto::SecretBytes> Get(std::string_view uid);
  absl::Status Revoke(std::string_view uid, RevocationReason reason, int64_t compromise_unix = 0);
  absl::Status Destroy(std::string_view uid);
  // AES-256-GCM with a 12-byte nonce, 16-byte tag. FailedPrecondition below KMIP 1.4.
  absl::StatusOr<EncryptResult> Encrypt(std::string_view uid, std::span<const uint8_t> plaintext,
                                        std::span<const uint8_t> nonce,
                                        std::span<const uint8_t> aad);
  absl::StatusOr<crypto::SecretBytes> Decrypt(std::string_view uid,
                                              std::span<const uint8_t> ciphertext,
                                              std::span<const uint8_t> nonce,
                                              std::span<const uint8_t> aad,
                                              std::span<const uint8_t> tag);

  // Drops the connection (the next call reconnects). For tests and shutdown.
  void Disconnect();
  // How many connections were established so far (for tests: reuse and reconnects).
  int connections_made() const;

 private:
  struct Tls;
  explicit KmipClient(KmipClientOptions options);

  // Sends `payload` for `op` and returns the decoded response; `min_version` refuses the call
  // at a lower negotiated version.
  absl::StatusOr<Response> Call(Operation op, const Item& payload,
                                ProtocolVersion min_version = {1, 2});

  const KmipClientOptions options_;
  std::unique_ptr<Tls> tls_;
  mutable std::timed_mutex mu_;  // serializes calls on the connection
};

}  // namespace sealpool::kms::kmip

#endif  // SEALPOOL_KMS_KMIP_KMIP_CLIENT_H_
