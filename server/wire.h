// Requests and replies as bytes (the gRPC raw callback API): taskd parses
// each request itself, so that a request that does not parse is
// INVALID_ARGUMENT naming the field instead of gRPC's own empty
// UNIMPLEMENTED, and serializes each reply (a watch event once for all its
// watchers).
#pragma once

#include <google/protobuf/message.h>
#include <grpcpp/support/byte_buffer.h>
#include <grpcpp/support/status.h>

#include <string_view>

#include "core/model/status.h"

namespace taskd::server {

// Parses `bytes` into `out` (cleared first). A proto3 string field that is
// not UTF-8 is INVALID_ARGUMENT naming it by its path in the request
// ("spec.exec.argv[2]: is not valid UTF-8", a map value as
// `spec.labels['team']`); bytes that are no `out` message at all are
// INVALID_ARGUMENT naming the message type.
Status ParseRequest(std::string_view bytes, google::protobuf::Message* out);
Status ParseRequest(const grpc::ByteBuffer& in, google::protobuf::Message* out);

// The prologue every RPC shares after authentication: the request parsed
// (ParseRequest), and one that names a task by `id` must name one.
template <typename Req, typename Bytes>
Status ParseCallRequest(const Bytes& in, Req* out) {
  if (Status s = ParseRequest(in, out); !s.ok()) return s;
  if constexpr (requires { out->id(); }) {
    if (out->id().empty()) return InvalidArgument("id", "must not be empty");
  }
  return OkStatus();
}

// `m` serialized into `out` (replacing what it held); INTERNAL if it cannot be.
grpc::Status Serialize(const google::protobuf::MessageLite& m, grpc::ByteBuffer* out);

}  // namespace taskd::server
