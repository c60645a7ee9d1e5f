#include "kms/peer_identity.h"

#include <grpcpp/security/auth_context.h>
#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace sealpool::kms {
namespace {

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};

std::string EntryText(X509_NAME* name, int index) {
  ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, index));
  unsigned char* utf8 = nullptr;
  int len = ASN1_STRING_to_UTF8(&utf8, data);
  if (len < 0) return "";
  std::string out(reinterpret_cast<const char*>(utf8), static_cast<size_t>(len));
  OPENSSL_free(utf8);
  return out;
}

// The one value of `nid` in the subject, "" if there is none. A subject with two (or more) is
// an ambiguous identity: authorization would depend on which one is read. Refused.
absl::StatusOr<std::string> SubjectField(X509_NAME* name, int nid, const char* what) {
  int index = X509_NAME_get_index_by_NID(name, nid, -1);
  if (index < 0) return std::string();
  std::string value = EntryText(name, index);
  int next = X509_NAME_get_index_by_NID(name, nid, index);
  if (next >= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("peer certificate has more than one ", what, " (\"", value, "\", \"",
                     EntryText(name, next), "\"): an ambiguous identity is refused"));
  }
  return value;
}
}  // namespace

absl::StatusOr<PeerIdentity> PeerIdentityFromPem(std::string_view pem) {
  std::unique_ptr<BIO, BioFree> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) return absl::ResourceExhaustedError("out of memory reading a certificate");
  std::unique_ptr<X509, X509Free> cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (!cert) return absl::InvalidArgumentError("peer certificate does not parse");
  X509_NAME* subject = X509_get_subject_name(cert.get());
  PeerIdentity id;
  absl::StatusOr<std::string> cn = SubjectField(subject, NID_commonName, "CN");
  if (!cn.ok()) return cn.status();
  absl::StatusOr<std::string> ou = SubjectField(subject, NID_organizationalUnitName, "OU");
  if (!ou.ok()) return ou.status();
  id.common_name = *std::move(cn);
  id.organizational_unit = *std::move(ou);
  uint32_t xku = X509_get_extended_key_usage(cert.get());
  // UINT32_MAX means "no extendedKeyUsage extension": not accepted as a client certificate.
  id.client_auth =
      (X509_get_extension_flags(cert.get()) & EXFLAG_XKUSAGE) != 0 && (xku & XKU_SSL_CLIENT) != 0;
  if (id.common_name.empty()) {
    return absl::InvalidArgumentError("peer certificate has no common name");
  }
  return id;
}

absl::StatusOr<PeerIdentity> PeerIdentityFromAuthContext(const grpc::AuthContext& context) {
  if (!context.IsPeerAuthenticated()) {
    return absl::UnauthenticatedError("the call carries no verified client certificate");
  }
  std::vector<grpc::string_ref> pem = context.FindPropertyValues("x509_pem_cert");
  if (pem.empty()) {
    return absl::UnauthenticatedError("the call carries no client certificate");
  }
  absl::StatusOr<PeerIdentity> id =
      PeerIdentityFromPem(std::string_view(pem.front().data(), pem.front().size()));
  if (!id.ok()) return absl::UnauthenticatedError(id.status().message());
  return id;
}

}  // namespace sealpool::kms
