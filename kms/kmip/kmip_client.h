// A KMIP client over TLS (OpenSSL): one connection, reused for every call and re-established
// after a drop; TLS 1.2 or later with a client certificate, the server verified against the
// configured CA and name; the protocol version negotiated with DiscoverVersions on every new
// connection (the highest of 1.4, 1.3, 1.2 the server offers); every call bounded by a
// deadline (connect, handshake, write and read included).
//
// Retries: when a reused connection turns out to be dead (the write fails, or the server
// closes it — a TLS close, a reset, or OpenSSL 3's "unexpected eof while reading" — before
// sending a single byte of the response) a call that changes nothing in the KMS (Encrypt,
// Decrypt, Get, GetAttributes, Locate, Query, DiscoverVersions) is sent once more on a fresh
// connection, within the same deadline. A mutation (Create, Activate, Revoke, Destroy) is
// never re-sent here: after a dropped connection nobody can know whether the server acted.
// Its failure then carries the outcome-unknown mark (IsOutcomeUnknown) and the caller
// reconciles (kmip_backend.h). Nothing else is retried.
//
// Errors: Unavailable (cannot connect, connection lost; temporary), DeadlineExceeded (the
// deadline passed), FailedPrecondition (a setup error that retrying will not cure: the KMS's
// certificate not trusted by the configured CA or not for its name, the KMS refusing the
// client certificate in the handshake or refusing to authenticate requests made with it;
// the message names the option to fix, labelled by KmipClientOptions::*_label),
// InvalidArgument (a malformed response; the connection is dropped), and the statuses of
// kmip_codec.h for a refused operation.
//
// Thread-safe: calls are serialized on the one connection (KMIP servers answer in order).
// Plaintext passing through (Encrypt requests, Decrypt responses, Get responses) is wiped
// from this code's buffers; OpenSSL's own record buffers are out of its reach.
#ifndef SEALPOOL_KMS_KMIP_KMIP_CLIENT_H_
#define SEALPOOL_KMS_KMIP_KMIP_CLIENT_H_

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "crypto/secure_memory.h"
#include "kms/kmip/kmip_codec.h"

namespace sealpool::kms::kmip {

// What a new connection negotiated.
struct KmipConnectionInfo {
  std::string peer;         // host:port
  std::string tls_version;  // "TLSv1.2"
  std::string cipher;       // OpenSSL's name, "ECDHE-ECDSA-AES256-GCM-SHA384"
  ProtocolVersion kmip;
};

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
  // How error messages name the options above (sealkmsd: its config keys and files).
  std::string server_label = "the KMIP server address";
  std::string ca_label = "the KMIP CA";
  std::string cert_label = "the KMIP client certificate";
  std::string deadline_label = "the KMIP call deadline";
  // Called after every new connection is negotiated, with the connection's mutex held (it
  // must not call the client). For logging.
  std::function<void(const KmipConnectionInfo&)> on_connect;
};

// Whether `s`, the failure of a call that changes the KMS (Create, Activate, Revoke,
// Destroy), may hide a success: the request was (possibly) sent and no response arrived (the
// deadline passed, or the connection dropped). The KMS may carry it out later. Such a status
// is Unavailable or DeadlineExceeded.
bool IsOutcomeUnknown(const absl::Status& s);
// Whether `op` changes nothing in the KMS (so may be sent again after a dropped connection).
bool IsReadOnly(Operation op);

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
  // `request_id`, when not empty, is stored as the key's Application Specific Information
  // (namespace kRequestIdNamespace), so a Create whose outcome is unknown can be found again
  // (LocateByRequestId).
  absl::StatusOr<std::string> CreateAesKey(std::string_view name, std::string_view group,
                                           std::string_view request_id = {});
  absl::Status Activate(std::string_view uid);
  absl::StatusOr<std::vector<std::string>> Locate(std::string_view group, int32_t max_items = 1000);
  // The keys of Object Group `group` created with `request_id` (CreateAesKey).
  absl::StatusOr<std::vector<std::string>> LocateByRequestId(std::string_view group,
                                                             std::string_view request_id);
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
  absl::Duration call_deadline() const { return options_.call_deadline; }

 private:
  struct Tls;
  explicit KmipClient(KmipClientOptions options);

  // Sends `payload` for `op` and returns the decoded response; `min_version` refuses the call
  // at a lower negotiated version.
  absl::StatusOr<Response> Call(Operation op, const Item& payload,
                                ProtocolVersion min_version = {1, 2});
  // Connects, negotiates the version, reports the connection (on_connect). Holds mu_.
  absl::Status Negotiate(absl::Time deadline, const DecodeLimits& limits);
  // A refusal to authenticate requests made with the client certificate (PermissionDenied
  // "Authentication Not Successful") as the setup error it is; other statuses unchanged.
  absl::Status RefusedClientCertificate(const absl::Status& s) const;

  const KmipClientOptions options_;
  std::unique_ptr<Tls> tls_;
  mutable std::timed_mutex mu_;  // serializes calls on the connection
};

}  // namespace sealpool::kms::kmip

#endif  // SEALPOOL_KMS_KMIP_KMIP_CLIENT_H_
