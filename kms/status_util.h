// The base/ string and status helpers under kms's namespace, so kms/ and sealkmsd code can
// write Cat(...), Annotate(...) unqualified.
#ifndef SEALPOOL_KMS_STATUS_UTIL_H_
#define SEALPOOL_KMS_STATUS_UTIL_H_

#include "base/status_macros.h"
#include "base/strings.h"

namespace sealpool::kms {

using base::AbslView;
using base::Annotate;
using base::Cat;
using base::StdView;

}  // namespace sealpool::kms

#endif  // SEALPOOL_KMS_STATUS_UTIL_H_
