#include "daemon/sealpoold/client_identity.h"

#include <grpcpp/security/auth_context.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <fstream>
#include <sstream>

#include "base/strings.h"

namespace sealpool::daemon {
namespace {

using base::Cat;

struct X509Deleter {
  void operator()(X509* x) const { X509_free(x); }
};
struct CrlDeleter {
  void operator()(X509_CRL* c) const { X509_CRL_free(c); }
};
struct BioDeleter {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct PkeyDeleter {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};

std::unique_ptr<X509, X509Deleter> ParseCert(std::string_view pem) {
  std::unique_ptr<BIO, BioDeleter> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) return nullptr;
  return std::unique_ptr<X509, X509Deleter>(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
}

}  // namespace

struct RevocationList::Impl {
  std::unique_ptr<X509_CRL, CrlDeleter> crl;
};

RevocationList::RevocationList(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
RevocationList::~RevocationList() = default;

absl::StatusOr<std::shared_ptr<const RevocationList>> RevocationList::Load(
    const std::filesystem::path& crl_path, std::string_view ca_pem) {
  std::ifstream in(crl_path, std::ios::binary);
  if (!in) return absl::NotFoundError(Cat("cannot read the CRL file ", crl_path.string()));
  std::stringstream text;
  text << in.rdbuf();
  const std::string pem = text.str();
  if (pem.size() > (64u << 20)) {
    return absl::InvalidArgumentError(Cat("CRL file ", crl_path.string(), " is over 64 MiB"));
  }
  std::unique_ptr<BIO, BioDeleter> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  auto impl = std::make_unique<Impl>();
  impl->crl.reset(PEM_read_bio_X509_CRL(bio.get(), nullptr, nullptr, nullptr));
  if (!impl->crl) {
    return absl::InvalidArgumentError(
        Cat("CRL file ", crl_path.string(), " is not a PEM certificate revocation list"));
  }
  auto ca = ParseCert(ca_pem);
  if (!ca) return absl::InvalidArgumentError("the CA certificate does not parse");
  std::unique_ptr<EVP_PKEY, PkeyDeleter> ca_key(X509_get_pubkey(ca.get()));
  if (!ca_key || X509_CRL_verify(impl->crl.get(), ca_key.get()) != 1) {
    return absl::InvalidArgumentError(Cat("CRL file ", crl_path.string(),
                                          " is not signed by the configured CA ([server].ca)"));
  }
  return std::shared_ptr<const RevocationList>(new RevocationList(std::move(impl)));
}

absl::StatusOr<bool> RevocationList::IsRevoked(std::string_view cert_pem) const {
  auto cert = ParseCert(cert_pem);
  if (!cert) return absl::InvalidArgumentError("the client certificate does not parse");
  X509_REVOKED* revoked = nullptr;
  return X509_CRL_get0_by_cert(impl_->crl.get(), &revoked, cert.get()) == 1;
}

size_t RevocationList::size() const {
  STACK_OF(X509_REVOKED)* list = X509_CRL_get_REVOKED(impl_->crl.get());
  return list == nullptr ? 0 : static_cast<size_t>(sk_X509_REVOKED_num(list));
}

absl::StatusOr<std::string> ClientCommonName(std::string_view cert_pem) {
  auto cert = ParseCert(cert_pem);
  if (!cert) return absl::InvalidArgumentError("the client certificate does not parse");
  X509_NAME* subject = X509_get_subject_name(cert.get());
  int first = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
  if (first < 0) return absl::InvalidArgumentError("the client certificate has no CN");
  if (X509_NAME_get_index_by_NID(subject, NID_commonName, first) >= 0) {
    return absl::InvalidArgumentError(
        "the client certificate carries more than one CN; sealpoold accepts exactly one");
  }
  const ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, first));
  unsigned char* utf8 = nullptr;
  int n = ASN1_STRING_to_UTF8(&utf8, data);
  if (n <= 0) return absl::InvalidArgumentError("the client certificate's CN is not text");
  std::string cn(reinterpret_cast<const char*>(utf8), static_cast<size_t>(n));
  OPENSSL_free(utf8);
  if (cn.find('\0') != std::string::npos) {
    return absl::InvalidArgumentError("the client certificate's CN holds a NUL byte");
  }
  return cn;
}

absl::StatusOr<std::string> ClientIdentityFromAuthContext(const grpc::AuthContext& context,
                                                          const RevocationList* crl) {
  if (!context.IsPeerAuthenticated()) {
    return absl::UnauthenticatedError("the call carries no verified client certificate");
  }
  std::vector<grpc::string_ref> pem = context.FindPropertyValues("x509_pem_cert");
  if (pem.empty()) return absl::UnauthenticatedError("the call carries no client certificate");
  std::string_view cert(pem.front().data(), pem.front().size());
  absl::StatusOr<std::string> cn = ClientCommonName(cert);
  if (!cn.ok()) return absl::UnauthenticatedError(cn.status().message());
  if (crl != nullptr) {
    absl::StatusOr<bool> revoked = crl->IsRevoked(cert);
    if (!revoked.ok()) return absl::UnauthenticatedError(revoked.status().message());
    if (*revoked) {
      return absl::UnauthenticatedError(
          Cat("the client certificate of \"", *cn, "\" has been revoked (on the CRL)"));
    }
  }
  return cn;
}

}  // namespace sealpool::daemon
