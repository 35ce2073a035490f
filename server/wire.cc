#include "server/wire.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/stubs/common.h>
#include <google/protobuf/unknown_field_set.h>
#include <grpcpp/impl/codegen/proto_utils.h>
#include <grpcpp/support/proto_buffer_reader.h>
#include <grpcpp/support/proto_buffer_writer.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace taskd::server {

namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::UnknownField;
using google::protobuf::UnknownFieldSet;

bool IsUtf8(const std::string& s) {
  return google::protobuf::internal::IsStructurallyValidUTF8(s.data(), static_cast<int>(s.size()));
}

// The first length-delimited field `number` of `fields`, if any.
const std::string* Delimited(const UnknownFieldSet& fields, int number) {
  for (int i = 0; i < fields.field_count(); ++i) {
    const UnknownField& f = fields.field(i);
    if (f.number() == number && f.type() == UnknownField::TYPE_LENGTH_DELIMITED) {
      return &f.length_delimited();
    }
  }
  return nullptr;
}

struct Invalid {
  std::string field;
  std::string what;
};

std::optional<Invalid> FindInvalidUtf8(const std::string& bytes, const Descriptor* type,
                                       const std::string& prefix);

// A map entry of `field` (named `name`): its key, then its value.
std::optional<Invalid> CheckMapEntry(const std::string& bytes, const FieldDescriptor* field,
                                     const std::string& name) {
  UnknownFieldSet entry;
  if (!entry.ParseFromString(bytes)) return std::nullopt;
  const FieldDescriptor* key_field = field->message_type()->map_key();
  const FieldDescriptor* value_field = field->message_type()->map_value();
  const std::string* key = Delimited(entry, 1);
  if (key && key_field->type() == FieldDescriptor::TYPE_STRING && !IsUtf8(*key)) {
    return Invalid{name, "a key is not valid UTF-8"};
  }
  const std::string* value = Delimited(entry, 2);
  if (!value) return std::nullopt;
  const std::string element = name + "[" + Quote(key ? *key : "") + "]";
  if (value_field->type() == FieldDescriptor::TYPE_STRING && !IsUtf8(*value)) {
    return Invalid{element, "is not valid UTF-8"};
  }
  if (value_field->type() == FieldDescriptor::TYPE_MESSAGE) {
    return FindInvalidUtf8(*value, value_field->message_type(), element);
  }
  return std::nullopt;
}

// The first string field in `bytes`, a `type` message, that is not UTF-8,
// by its path below `prefix`. Walks the wire format against the schema
// (depth is bounded by the schema: no taskd message contains itself).
std::optional<Invalid> FindInvalidUtf8(const std::string& bytes, const Descriptor* type,
                                       const std::string& prefix) {
  UnknownFieldSet fields;
  if (!fields.ParseFromString(bytes)) return std::nullopt;
  std::map<int, int> seen;  // occurrences so far, by field number: repeated fields' indexes
  for (int i = 0; i < fields.field_count(); ++i) {
    const UnknownField& f = fields.field(i);
    const int index = seen[f.number()]++;
    if (f.type() != UnknownField::TYPE_LENGTH_DELIMITED) continue;
    const FieldDescriptor* field = type->FindFieldByNumber(f.number());
    if (!field) continue;
    std::string name = prefix.empty() ? field->name() : prefix + "." + field->name();
    if (field->is_map()) {
      if (auto bad = CheckMapEntry(f.length_delimited(), field, name)) return bad;
      continue;
    }
    if (field->is_repeated()) name += "[" + std::to_string(index) + "]";
    if (field->type() == FieldDescriptor::TYPE_STRING && !IsUtf8(f.length_delimited())) {
      return Invalid{name, "is not valid UTF-8"};
    }
    if (field->type() == FieldDescriptor::TYPE_MESSAGE) {
      if (auto bad = FindInvalidUtf8(f.length_delimited(), field->message_type(), name)) {
        return bad;
      }
    }
  }
  return std::nullopt;
}

Status ParseFailure(const std::string& bytes, const google::protobuf::Message& out) {
  const Descriptor* type = out.GetDescriptor();
  if (auto bad = FindInvalidUtf8(bytes, type, "")) return InvalidArgument(bad->field, bad->what);
  return InvalidArgument("request", "is not a valid " + type->full_name() + " message");
}

}  // namespace

Status ParseRequest(std::string_view bytes, google::protobuf::Message* out) {
  if (out->ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) return OkStatus();
  return ParseFailure(std::string(bytes), *out);
}

Status ParseRequest(const grpc::ByteBuffer& in, google::protobuf::Message* out) {
  grpc::ByteBuffer copy(in);  // shares the slices; the reader needs its own
  {
    grpc::ProtoBufferReader reader(&copy);
    if (reader.status().ok() && out->ParseFromZeroCopyStream(&reader)) return OkStatus();
  }
  // Not parsed (or not readable as a stream): parse the flat bytes, which
  // names what is wrong.
  std::vector<grpc::Slice> slices;
  std::string bytes;
  if (in.Dump(&slices).ok()) {
    for (const auto& s : slices) bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
  }
  return ParseRequest(bytes, out);
}

grpc::Status Serialize(const google::protobuf::MessageLite& m, grpc::ByteBuffer* out) {
  bool own = false;
  return grpc::SerializationTraits<google::protobuf::MessageLite>::Serialize(m, out, &own);
}

}  // namespace taskd::server
