// A server-streaming call answered with an error before any message.
#pragma once

#include <grpcpp/grpcpp.h>

#include "core/model/status.h"
#include "server/convert.h"

namespace taskd::server {

class FailedStream final : public grpc::ServerWriteReactor<grpc::ByteBuffer> {
 public:
  explicit FailedStream(const Status& status) { this->Finish(ToGrpc(status)); }
  void OnDone() override { delete this; }
};

}  // namespace taskd::server
