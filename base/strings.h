// String helpers for Debian bookworm's Abseil, which is built with its own absl::string_view
// type rather than std::string_view: absl::StrCat and the absl::Status constructors take a
// std::string_view only through these.
#ifndef SEALPOOL_BASE_STRINGS_H_
#define SEALPOOL_BASE_STRINGS_H_

#include <string>
#include <string_view>
#include <type_traits>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace sealpool::base {

inline absl::string_view AbslView(std::string_view s) { return {s.data(), s.size()}; }
inline std::string_view StdView(absl::string_view s) { return {s.data(), s.size()}; }

namespace internal {
template <typename T>
decltype(auto) CatArg(const T& v) {
  if constexpr (std::is_same_v<T, std::string_view>) {
    return AbslView(v);
  } else {
    return (v);
  }
}
}  // namespace internal

// absl::StrCat that also takes std::string_view.
template <typename... Args>
std::string Cat(const Args&... args) {
  return absl::StrCat(internal::CatArg(args)...);
}

}  // namespace sealpool::base

#endif  // SEALPOOL_BASE_STRINGS_H_
