#include <openssl/err.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "crypto/openssl_util_internal.h"

namespace sealpool::crypto::internal {

absl::Status OpenSslError(absl::string_view what) {
  std::string detail;
  const char* file = nullptr;
  int line = 0;
  const char* func = nullptr;
  const char* data = nullptr;
  int flags = 0;
  while (unsigned long code = ERR_get_error_all(&file, &line, &func, &data, &flags)) {
    char buf[256];
    ERR_error_string_n(code, buf, sizeof buf);
    if (!detail.empty()) detail += "; ";
    detail += buf;
    if (data != nullptr && (flags & ERR_TXT_STRING) != 0 && data[0] != '\0') {
      absl::StrAppend(&detail, " (", data, ")");
    }
  }
  if (detail.empty()) detail = "no OpenSSL error queued";
  return absl::InternalError(absl::StrCat(what, " failed: ", detail));
}

void ClearOpenSslErrors() { ERR_clear_error(); }

}  // namespace sealpool::crypto::internal
