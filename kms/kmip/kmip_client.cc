#include "kms/kmip/kmip_client.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/cord.h"
#include "absl/time/clock.h"
#include "kms/status_util.h"

namespace sealpool::kms::kmip {
namespace {

// The versions this client speaks, best first. AES-GCM Encrypt/Decrypt need 1.4.
const std::vector<ProtocolVersion> kOffered = {{1, 4}, {1, 3}, {1, 2}};
// DiscoverVersions itself is sent at 1.1, the first version that has it.
constexpr ProtocolVersion kDiscoverAt{1, 1};

std::string OpenSslErrors() {
  std::string out;
  unsigned long e;
  while ((e = ERR_get_error()) != 0) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out.empty() ? "no OpenSSL error queued" : out;
}

// Blocks SIGPIPE on this thread while OpenSSL writes to a socket the peer may have closed, and
// swallows a SIGPIPE raised meanwhile, so a dropped KMS connection is an error, not a kill.
class SigpipeGuard {
 public:
  SigpipeGuard() {
    sigset_t pipe;
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    sigset_t pending;
    sigpending(&pending);
    was_pending_ = sigismember(&pending, SIGPIPE) == 1;
    pthread_sigmask(SIG_BLOCK, &pipe, &old_);
  }
  ~SigpipeGuard() {
    if (!was_pending_) {
      sigset_t pipe;
      sigemptyset(&pipe);
      sigaddset(&pipe, SIGPIPE);
      timespec zero{0, 0};
      while (sigtimedwait(&pipe, nullptr, &zero) > 0) {
      }
    }
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }

 private:
  sigset_t old_;
  bool was_pending_ = false;
};

constexpr absl::string_view kOutcomeUnknownUrl =
    "type.sealpool.dev/sealpool.kms.kmip.OutcomeUnknown";

int MillisLeft(absl::Time deadline) {
  absl::Duration left = deadline - absl::Now();
  if (left <= absl::ZeroDuration()) return 0;
  int64_t ms = absl::ToInt64Milliseconds(left) + 1;
  return ms > 60000 ? 60000 : static_cast<int>(ms);
}

}  // namespace

bool IsOutcomeUnknown(const absl::Status& s) {
  return !s.ok() && s.GetPayload(kOutcomeUnknownUrl).has_value();
}

bool IsReadOnly(Operation op) {
  switch (op) {
    case Operation::kEncrypt:
    case Operation::kDecrypt:
    case Operation::kGet:
    case Operation::kGetAttributes:
    case Operation::kLocate:
    case Operation::kQuery:
    case Operation::kDiscoverVersions:
      return true;
    case Operation::kCreate:
    case Operation::kActivate:
    case Operation::kRevoke:
    case Operation::kDestroy:
      return false;
  }
  return false;
}

struct KmipClient::Tls {
  SSL_CTX* ctx = nullptr;
  SSL* ssl = nullptr;
  int fd = -1;
  ProtocolVersion version;
  bool used = false;  // a response was read on this connection
  int connections = 0;
  std::string peer;  // host:port, for messages

  ~Tls() {
    Drop();
    if (ctx != nullptr) SSL_CTX_free(ctx);
  }

  bool connected() const { return ssl != nullptr; }

  void Drop() {
    if (ssl != nullptr) {
      SSL_free(ssl);
      ssl = nullptr;
    }
    if (fd >= 0) {
      close(fd);
      fd = -1;
    }
    used = false;
  }

  absl::Status Wait(short events, absl::Time deadline, std::string_view doing) {
    for (;;) {
      int ms = MillisLeft(deadline);
      if (ms == 0) {
        return absl::DeadlineExceededError(
            Cat("KMIP server ", peer, ": deadline passed while ", doing));
      }
      pollfd p{fd, events, 0};
      int n = poll(&p, 1, ms);
      if (n > 0) return absl::OkStatus();
      if (n < 0 && errno != EINTR) {
        return absl::UnavailableError(
            Cat("KMIP server ", peer, ": poll failed: ", std::strerror(errno)));
      }
    }
  }

  // Waits as OpenSSL asks after a call that returned `ret`; an error for anything but WANT_*.
  absl::Status Retry(int ret, absl::Time deadline, std::string_view doing, bool* eof = nullptr) {
    int err = SSL_get_error(ssl, ret);
    if (err == SSL_ERROR_WANT_READ) return Wait(POLLIN, deadline, doing);
    if (err == SSL_ERROR_WANT_WRITE) return Wait(POLLOUT, deadline, doing);
    // End of file: a TLS close_notify, a bare TCP close (OpenSSL 1.1: SYSCALL with an empty
    // queue; OpenSSL 3: SSL with reason "unexpected eof while reading").
    if (err == SSL_ERROR_ZERO_RETURN || (err == SSL_ERROR_SYSCALL && ERR_peek_error() == 0) ||
        (err == SSL_ERROR_SSL &&
         ERR_GET_REASON(ERR_peek_error()) == SSL_R_UNEXPECTED_EOF_WHILE_READING)) {
      if (eof != nullptr) *eof = true;
      ERR_clear_error();
      return absl::UnavailableError(
          Cat("KMIP server ", peer, " closed the connection while ", doing));
    }
    std::string detail =
        err == SSL_ERROR_SYSCALL && errno != 0 ? std::strerror(errno) : OpenSslErrors();
    if (eof != nullptr && err == SSL_ERROR_SYSCALL && (errno == ECONNRESET || errno == EPIPE))
      *eof = true;
    return absl::UnavailableError(
        Cat("KMIP server ", peer, ": TLS error while ", doing, ": ", detail));
  }

  // Why SSL_connect failed (`err`: SSL_get_error), told apart: sealkmsd refused the KMS's
  // certificate, the KMS refused sealkmsd's (both FailedPrecondition: setup errors), or the
  // connection broke (Unavailable).
  absl::Status HandshakeError(const KmipClientOptions& o, int err) {
    long verify = SSL_get_verify_result(ssl);
    if (verify != X509_V_OK) {
      ERR_clear_error();
      const bool name = verify == X509_V_ERR_HOSTNAME_MISMATCH ||
                        verify == X509_V_ERR_IP_ADDRESS_MISMATCH;
      return absl::FailedPreconditionError(Cat(
          "sealkmsd refused the certificate of KMIP server ", peer, " in the TLS handshake: ",
          X509_verify_cert_error_string(verify), "; check ",
          name ? Cat(o.server_label, " (the name its certificate must carry)")
               : Cat(o.ca_label, " (it must hold the CA that issued the KMS's certificate)")));
    }
    unsigned long e = ERR_peek_last_error();
    const int reason = ERR_GET_LIB(e) == ERR_LIB_SSL ? ERR_GET_REASON(e) : 0;
    std::string_view why;
    switch (reason) {
      case SSL_R_TLSV1_ALERT_UNKNOWN_CA:
        why = "the KMS does not trust its issuer; give the KMS the CA that issued it, or use a "
              "certificate from a CA the KMS trusts";
        break;
      case SSL_R_SSLV3_ALERT_UNSUPPORTED_CERTIFICATE:
        why = "the KMS does not accept it for client authentication; it needs the extended key "
              "usage clientAuth";
        break;
      case SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED:
        why = "it has expired";
        break;
      case SSL_R_SSLV3_ALERT_CERTIFICATE_REVOKED:
        why = "it has been revoked";
        break;
      case SSL_R_SSLV3_ALERT_BAD_CERTIFICATE:
      case SSL_R_SSLV3_ALERT_CERTIFICATE_UNKNOWN:
      case SSL_R_TLSV1_ALERT_ACCESS_DENIED:
      case SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED:
        why = "the KMS does not accept it";
        break;
      default:
        break;
    }
    if (!why.empty()) {
      std::string alert = OpenSslErrors();
      return absl::FailedPreconditionError(
          Cat("KMIP server ", peer, " refused sealkmsd's client certificate (", o.cert_label,
              ") in the TLS handshake: ", why, " (TLS: ", alert, ")"));
    }
    std::string detail = err == SSL_ERROR_SYSCALL && ERR_peek_error() == 0
                             ? std::string("the connection was closed")
                             : OpenSslErrors();
    return absl::UnavailableError(Cat("KMIP server ", peer, ": TLS handshake failed: ", detail));
  }

  absl::Status Connect(const KmipClientOptions& o, absl::Time deadline) {
    Drop();
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* res = nullptr;
    std::string port = std::to_string(o.port);
    int gai = getaddrinfo(o.host.c_str(), port.c_str(), &hints, &res);
    if (gai != 0) {
      return absl::UnavailableError(
          Cat("KMIP server ", peer, ": cannot resolve: ", gai_strerror(gai)));
    }
    absl::Status last = absl::UnavailableError(Cat("KMIP server ", peer, ": no address"));
    for (addrinfo* a = res; a != nullptr; a = a->ai_next) {
      fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
      if (fd < 0) continue;
      if (connect(fd, a->ai_addr, a->ai_addrlen) == 0 || errno == EINPROGRESS) {
        last = Wait(POLLOUT, deadline, "connecting");
        if (last.ok()) {
          int err = 0;
          socklen_t len = sizeof err;
          getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
          if (err == 0) break;
          last = absl::UnavailableError(
              Cat("KMIP server ", peer, ": cannot connect: ", std::strerror(err)));
        }
      } else {
        last = absl::UnavailableError(
            Cat("KMIP server ", peer, ": cannot connect: ", std::strerror(errno)));
      }
      close(fd);
      fd = -1;
      if (last.code() == absl::StatusCode::kDeadlineExceeded) break;
    }
    freeaddrinfo(res);
    if (fd < 0) return last;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);

    ssl = SSL_new(ctx);
    if (ssl == nullptr || SSL_set_fd(ssl, fd) != 1) {
      Drop();
      return absl::InternalError(Cat("KMIP: SSL_new failed: ", OpenSslErrors()));
    }
    const std::string& name = o.server_name.empty() ? o.host : o.server_name;
    in6_addr ip6;
    in_addr ip4;
    bool is_ip =
        inet_pton(AF_INET, name.c_str(), &ip4) == 1 || inet_pton(AF_INET6, name.c_str(), &ip6) == 1;
    // The name the KMS certificate must carry. Each call's result is checked: a name OpenSSL
    // cannot take (over 255 bytes for SNI, out of memory) would otherwise leave the handshake
    // without a host check.
    if (is_ip) {
      if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name.c_str()) != 1) {
        absl::Status s = absl::FailedPreconditionError(Cat(
            "KMIP: cannot set the IP address the KMS certificate must carry from ",
            o.server_label, ": ", OpenSslErrors()));
        Drop();
        return s;
      }
    } else {
      if (SSL_set1_host(ssl, name.c_str()) != 1 ||
          SSL_ctrl(ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
                   const_cast<char*>(name.c_str())) != 1) {  // SSL_set_tlsext_host_name
        absl::Status s = absl::FailedPreconditionError(Cat(
            "KMIP: cannot set the host name the KMS certificate must carry (and the TLS server "
            "name) from ", o.server_label, " (", name.size(), " bytes): ", OpenSslErrors()));
        Drop();
        return s;
      }
    }
    SigpipeGuard guard;
    for (;;) {
      ERR_clear_error();
      int ret = SSL_connect(ssl);
      if (ret == 1) break;
      int err = SSL_get_error(ssl, ret);
      if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE) {
        absl::Status s = HandshakeError(o, err);
        Drop();
        return s;
      }
      absl::Status s = Retry(ret, deadline, "in the TLS handshake");
      if (!s.ok()) {
        Drop();
        return s;
      }
    }
    ++connections;
    return absl::OkStatus();
  }

  absl::Status WriteAll(std::span<const uint8_t> data, absl::Time deadline, bool* eof) {
    SigpipeGuard guard;
    size_t done = 0;
    while (done < data.size()) {
      ERR_clear_error();
      int ret = SSL_write(ssl, data.data() + done, static_cast<int>(data.size() - done));
      if (ret > 0) {
        done += static_cast<size_t>(ret);
        continue;
      }
      SEALPOOL_RETURN_IF_ERROR(Retry(ret, deadline, "sending a request", eof));
    }
    return absl::OkStatus();
  }

  // Reads exactly out.size() bytes; `got` counts what has arrived (for the retry rule).
  absl::Status ReadAll(std::span<uint8_t> out, absl::Time deadline, size_t* got, bool* eof) {
    SigpipeGuard guard;
    size_t done = 0;
    while (done < out.size()) {
      ERR_clear_error();
      int ret = SSL_read(ssl, out.data() + done, static_cast<int>(out.size() - done));
      if (ret > 0) {
        done += static_cast<size_t>(ret);
        *got += static_cast<size_t>(ret);
        continue;
      }
      SEALPOOL_RETURN_IF_ERROR(Retry(ret, deadline, "waiting for the response", eof));
    }
    return absl::OkStatus();
  }

  // Sends `request` and reads one whole response message. `retryable` is set when the failure
  // shows the connection was dead before the server saw the request (nothing came back).
  // `sent` is set once the request may have left (a failure after that may hide a success).
  absl::StatusOr<std::vector<uint8_t>> RoundTrip(std::span<const uint8_t> request,
                                                 const DecodeLimits& limits, absl::Time deadline,
                                                 bool* retryable, bool* sent) {
    *retryable = false;
    *sent = true;
    bool eof = false;
    absl::Status s = WriteAll(request, deadline, &eof);
    if (!s.ok()) {
      *retryable = s.code() == absl::StatusCode::kUnavailable;
      Drop();
      return s;
    }
    std::vector<uint8_t> header(kHeaderSize);
    size_t got = 0;
    s = ReadAll(header, deadline, &got, &eof);
    if (!s.ok()) {
      *retryable = eof && got == 0;
      Drop();
      return s;
    }
    absl::StatusOr<size_t> size = MessageSize(header, limits);
    if (!size.ok()) {
      Drop();
      return Annotate(size.status(), Cat("KMIP server ", peer, " sent a bad response"));
    }
    if (*size < kHeaderSize) {
      Drop();
      return absl::InvalidArgumentError(
          Cat("KMIP server ", peer, " sent a bad response: ", *size, " bytes in all"));
    }
    // The header first, then room for the rest (no copy into a buffer the compiler cannot
    // prove non-empty: GCC 12 -O3 -Wnull-dereference).
    std::vector<uint8_t> message(header.begin(), header.end());
    message.resize(*size);
    s = ReadAll(std::span<uint8_t>(message).subspan(kHeaderSize), deadline, &got, &eof);
    if (!s.ok()) {
      crypto::Wipe(message);
      Drop();
      return s;
    }
    used = true;
    return message;
  }
};

absl::StatusOr<std::unique_ptr<KmipClient>> KmipClient::Create(const KmipClientOptions& options) {
  if (options.host.empty()) return absl::InvalidArgumentError("KMIP: no server host");
  if (options.port <= 0 || options.port > 65535) {
    return absl::InvalidArgumentError(Cat("KMIP: port ", options.port, " out of range"));
  }
  if (options.call_deadline <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("KMIP: the call deadline must be positive");
  }
  std::unique_ptr<KmipClient> client(new KmipClient(options));
  auto tls = std::make_unique<Tls>();
  tls->peer = Cat(options.host, ":", options.port);
  tls->ctx = SSL_CTX_new(TLS_client_method());
  if (tls->ctx == nullptr) return absl::InternalError(Cat("KMIP: SSL_CTX_new: ", OpenSslErrors()));
  SSL_CTX* ctx = tls->ctx;
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);

  auto bio = [](const std::string& pem) {
    return std::unique_ptr<BIO, decltype(&BIO_free)>(
        BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), &BIO_free);
  };
  {
    auto b = bio(options.ca_pem);
    int n = 0;
    while (X509* x = PEM_read_bio_X509(b.get(), nullptr, nullptr, nullptr)) {
      X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx), x);
      X509_free(x);
      ++n;
    }
    ERR_clear_error();
    if (n == 0) return absl::InvalidArgumentError("KMIP: no CA certificate in the CA file");
  }
  {
    auto b = bio(options.cert_pem);
    X509* leaf = PEM_read_bio_X509(b.get(), nullptr, nullptr, nullptr);
    if (leaf == nullptr || SSL_CTX_use_certificate(ctx, leaf) != 1) {
      X509_free(leaf);
      return absl::InvalidArgumentError(
          Cat("KMIP: cannot load the client certificate: ", OpenSslErrors()));
    }
    X509_free(leaf);
    while (X509* x = PEM_read_bio_X509(b.get(), nullptr, nullptr, nullptr)) {
      SSL_CTX_add_extra_chain_cert(ctx, x);  // takes ownership
    }
    ERR_clear_error();
  }
  {
    auto b = bio(options.key_pem);
    EVP_PKEY* key = PEM_read_bio_PrivateKey(b.get(), nullptr, nullptr, nullptr);
    if (key == nullptr) {
      return absl::InvalidArgumentError(Cat("KMIP: cannot load the client key: ", OpenSslErrors()));
    }
    if (SSL_CTX_use_PrivateKey(ctx, key) != 1) {
      EVP_PKEY_free(key);
      return absl::InvalidArgumentError(
          Cat("KMIP: the client key does not match its certificate: ", OpenSslErrors()));
    }
    EVP_PKEY_free(key);
    if (SSL_CTX_check_private_key(ctx) != 1) {
      return absl::InvalidArgumentError("KMIP: the client key does not match its certificate");
    }
  }
  client->tls_ = std::move(tls);
  return client;
}

KmipClient::KmipClient(KmipClientOptions options) : options_(std::move(options)) {}
KmipClient::~KmipClient() = default;

int KmipClient::connections_made() const {
  std::lock_guard<std::timed_mutex> lock(mu_);
  return tls_->connections;
}

void KmipClient::Disconnect() {
  std::lock_guard<std::timed_mutex> lock(mu_);
  tls_->Drop();
}

absl::StatusOr<Response> KmipClient::Call(Operation op, const Item& payload,
                                          ProtocolVersion min_version) {
  const absl::Time deadline = absl::Now() + options_.call_deadline;
  const std::string what = Cat("KMIP ", OperationName(op));
  std::unique_lock<std::timed_mutex> lock(mu_, std::defer_lock);
  if (!lock.try_lock_until(std::chrono::steady_clock::now() +
                           absl::ToChronoMilliseconds(options_.call_deadline))) {
    return absl::DeadlineExceededError(Cat(what, " to ", tls_->peer,
                                           ": deadline passed waiting for the connection (",
                                           options_.deadline_label, ")"));
  }
  DecodeLimits limits;
  limits.max_message_size = options_.max_response_size;
  Tls& t = *tls_;
  // The statuses of a connection or round trip, with what to fix or what is unknown.
  auto failed = [&](const absl::Status& s, bool sent) {
    absl::Status out = Annotate(s, what);
    if (out.code() == absl::StatusCode::kDeadlineExceeded) {
      out = absl::DeadlineExceededError(Cat(out.message(), " (",
                                            absl::FormatDuration(options_.call_deadline), ", ",
                                            options_.deadline_label, ")"));
    }
    if (sent && !IsReadOnly(op) &&
        (out.code() == absl::StatusCode::kDeadlineExceeded ||
         out.code() == absl::StatusCode::kUnavailable)) {
      out = absl::Status(out.code(),
                         Cat(out.message(), "; the request was sent, so the KMS may have "
                                            "carried it out or may still do so"));
      out.SetPayload(kOutcomeUnknownUrl, absl::Cord("1"));
    }
    return out;
  };
  for (int attempt = 0;; ++attempt) {
    if (!t.connected()) {
      absl::Status s = Negotiate(deadline, limits);
      if (!s.ok()) return failed(s, /*sent=*/false);
    }
    if (t.version < min_version) {
      return absl::FailedPreconditionError(Cat(
          "KMIP ", OperationName(op), " as sealpool uses it needs KMIP ",
          VersionString(min_version), "; server ", t.peer, " speaks ", VersionString(t.version)));
    }
    const bool reused = t.used;
    SEALPOOL_ASSIGN_OR_RETURN(std::vector<uint8_t> request, EncodeRequest(t.version, op, payload));
    bool retryable = false, sent = false;
    absl::StatusOr<std::vector<uint8_t>> raw =
        t.RoundTrip(request, limits, deadline, &retryable, &sent);
    crypto::Wipe(request);
    if (!raw.ok()) {
      // A stale connection: a call that changes nothing goes once more on a new one.
      if (retryable && reused && attempt == 0 && IsReadOnly(op)) continue;
      return failed(raw.status(), sent);
    }
    absl::StatusOr<Response> r = DecodeResponse(*raw, op, limits);
    crypto::Wipe(*raw);
    if (!r.ok() && r.status().code() == absl::StatusCode::kInvalidArgument) {
      t.Drop();  // cannot trust the stream any more
      return Annotate(r.status(), Cat("KMIP server ", t.peer, " sent a malformed response"));
    }
    if (!r.ok()) return RefusedClientCertificate(r.status());
    return r;
  }
}

absl::Status KmipClient::RefusedClientCertificate(const absl::Status& s) const {
  if (s.code() != absl::StatusCode::kPermissionDenied ||
      s.message().find("Authentication Not Successful") == std::string_view::npos) {
    return s;
  }
  return absl::FailedPreconditionError(
      Cat("KMIP server ", tls_->peer,
          " accepted the TLS connection but refuses every request made with sealkmsd's client "
          "certificate (",
          options_.cert_label,
          "): the KMS does not accept it for client authentication (PyKMIP requires the "
          "extended key usage clientAuth in it); ",
          s.message()));
}

absl::Status KmipClient::Negotiate(absl::Time deadline, const DecodeLimits& limits) {
  Tls& t = *tls_;
  SEALPOOL_RETURN_IF_ERROR(t.Connect(options_, deadline));
  SEALPOOL_ASSIGN_OR_RETURN(std::vector<uint8_t> dv,
                            EncodeRequest(kDiscoverAt, Operation::kDiscoverVersions,
                                          DiscoverVersionsPayload(kOffered)));
  bool ignored = false, ignored_sent = false;
  absl::StatusOr<std::vector<uint8_t>> raw =
      t.RoundTrip(dv, limits, deadline, &ignored, &ignored_sent);
  if (!raw.ok()) return Annotate(raw.status(), "DiscoverVersions");
  absl::StatusOr<Response> r = DecodeResponse(*raw, Operation::kDiscoverVersions, limits);
  absl::StatusOr<std::vector<ProtocolVersion>> versions =
      r.ok() ? ParseDiscoverVersions(*r)
             : absl::StatusOr<std::vector<ProtocolVersion>>(RefusedClientCertificate(r.status()));
  if (!versions.ok()) {
    t.Drop();
    return Annotate(versions.status(), "DiscoverVersions");
  }
  std::optional<ProtocolVersion> chosen;
  for (ProtocolVersion v : *versions) {
    for (ProtocolVersion mine : kOffered) {
      if (v == mine && (!chosen || v > *chosen)) chosen = v;
    }
  }
  if (!chosen) {
    t.Drop();
    return absl::FailedPreconditionError(
        Cat("KMIP server ", t.peer, " speaks none of KMIP 1.4, 1.3, 1.2"));
  }
  t.version = *chosen;
  if (options_.on_connect) {
    const char* cipher = SSL_get_cipher_name(t.ssl);
    options_.on_connect(KmipConnectionInfo{t.peer, SSL_get_version(t.ssl),
                                           cipher != nullptr ? cipher : "(none)", t.version});
  }
  return absl::OkStatus();
}

absl::StatusOr<ProtocolVersion> KmipClient::Version() {
  SEALPOOL_ASSIGN_OR_RETURN(Response r, Call(Operation::kQuery, QueryPayload({kQueryOperations})));
  return r.version;
}

absl::StatusOr<std::vector<ProtocolVersion>> KmipClient::DiscoverVersions() {
  SEALPOOL_ASSIGN_OR_RETURN(Response r,
                            Call(Operation::kDiscoverVersions, DiscoverVersionsPayload({})));
  return ParseDiscoverVersions(r);
}

absl::StatusOr<QueryResult> KmipClient::Query() {
  SEALPOOL_ASSIGN_OR_RETURN(
      Response r,
      Call(Operation::kQuery, QueryPayload({kQueryOperations, kQueryServerInformation})));
  return ParseQuery(r);
}

absl::StatusOr<std::string> KmipClient::CreateAesKey(std::string_view name,
                                                     std::string_view group,
                                                     std::string_view request_id) {
  SEALPOOL_ASSIGN_OR_RETURN(
      Response r, Call(Operation::kCreate, CreateAesKeyPayload(name, group, 0, request_id)));
  return ParseUid(r);
}

absl::Status KmipClient::Activate(std::string_view uid) {
  SEALPOOL_ASSIGN_OR_RETURN(Response r, Call(Operation::kActivate, UidPayload(uid)));
  return ParseUid(r).status();
}

absl::StatusOr<std::vector<std::string>> KmipClient::Locate(std::string_view group,
                                                            int32_t max_items) {
  SEALPOOL_ASSIGN_OR_RETURN(Response r, Call(Operation::kLocate, LocatePayload(group, max_items)));
  return ParseLocate(r);
}

absl::StatusOr<std::vector<std::string>> KmipClient::LocateByRequestId(
    std::string_view group, std::string_view request_id) {
  if (request_id.empty()) return absl::InvalidArgumentError("KMIP Locate: empty request id");
  SEALPOOL_ASSIGN_OR_RETURN(Response r,
                            Call(Operation::kLocate, LocatePayload(group, 100, request_id)));
  return ParseLocate(r);
}

absl::StatusOr<KeyAttributes> KmipClient::GetAttributes(std::string_view uid) {
  SEALPOOL_ASSIGN_OR_RETURN(
      Response r, Call(Operation::kGetAttributes, GetAttributesPayload(uid, KeyAttributeNames())));
  return ParseGetAttributes(r);
}

absl::StatusOr<crypto::SecretBytes> KmipClient::Get(std::string_view uid) {
  SEALPOOL_ASSIGN_OR_RETURN(Response r, Call(Operation::kGet, GetPayload(uid)));
  return ParseGetKey(r);
}

absl::Status KmipClient::Revoke(std::string_view uid, RevocationReason reason,
                                int64_t compromise_unix) {
  SEALPOOL_ASSIGN_OR_RETURN(Response r,
                            Call(Operation::kRevoke, RevokePayload(uid, reason, compromise_unix)));
  return ParseUid(r).status();
}

absl::Status KmipClient::Destroy(std::string_view uid) {
  SEALPOOL_ASSIGN_OR_RETURN(Response r, Call(Operation::kDestroy, UidPayload(uid)));
  return ParseUid(r).status();
}

absl::StatusOr<EncryptResult> KmipClient::Encrypt(std::string_view uid,
                                                  std::span<const uint8_t> plaintext,
                                                  std::span<const uint8_t> nonce,
                                                  std::span<const uint8_t> aad) {
  if (nonce.size() != kGcmNonceLength)
    return absl::InvalidArgumentError("KMIP Encrypt: the nonce is 12 bytes");
  SEALPOOL_ASSIGN_OR_RETURN(
      Response r, Call(Operation::kEncrypt, EncryptPayload(uid, plaintext, nonce, aad), {1, 4}));
  SEALPOOL_ASSIGN_OR_RETURN(EncryptResult e, ParseEncrypt(r));
  if (e.ciphertext.size() != plaintext.size()) {
    return absl::InvalidArgumentError(Cat("KMIP Encrypt response: ", e.ciphertext.size(),
                                          " bytes of ciphertext for ", plaintext.size(),
                                          " of plaintext"));
  }
  return e;
}

absl::StatusOr<crypto::SecretBytes> KmipClient::Decrypt(std::string_view uid,
                                                        std::span<const uint8_t> ciphertext,
                                                        std::span<const uint8_t> nonce,
                                                        std::span<const uint8_t> aad,
                                                        std::span<const uint8_t> tag) {
  if (nonce.size() != kGcmNonceLength)
    return absl::InvalidArgumentError("KMIP Decrypt: the nonce is 12 bytes");
  SEALPOOL_ASSIGN_OR_RETURN(
      Response r,
      Call(Operation::kDecrypt, DecryptPayload(uid, ciphertext, nonce, aad, tag), {1, 4}));
  SEALPOOL_ASSIGN_OR_RETURN(crypto::SecretBytes plain, ParseDecrypt(r));
  if (plain.size() != ciphertext.size()) {
    return absl::InvalidArgumentError(Cat("KMIP Decrypt response: ", plain.size(),
                                          " bytes of plaintext for ", ciphertext.size(),
                                          " of ciphertext"));
  }
  return plain;
}

}  // namespace sealpool::kms::kmip
