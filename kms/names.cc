#include "kms/names.h"

#include "absl/strings/escaping.h"
#include "kms/status_util.h"

namespace sealpool::kms {

absl::Status ValidateName(std::string_view what, std::string_view name) {
  if (name.empty()) return absl::InvalidArgumentError(Cat(what, " is empty"));
  if (name.size() > kMaxNameLength) {
    return absl::InvalidArgumentError(
        Cat(what, " is ", name.size(), " characters long; the limit is ", kMaxNameLength));
  }
  if (name.front() == '.' || name.front() == '-') {
    return absl::InvalidArgumentError(
        Cat(what, " \"", absl::CHexEscape(AbslView(name)), "\" starts with '.' or '-'"));
  }
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == ':' || c == '-';
    if (!ok) {
      return absl::InvalidArgumentError(Cat(what, " \"", absl::CHexEscape(AbslView(name)),
                                            "\" has a character outside [A-Za-z0-9._:-]"));
    }
  }
  return absl::OkStatus();
}

}  // namespace sealpool::kms
