// Submits `sh -c 'echo hello from consumer; exit N'` to the taskd named by
// TASKD_ADDR (or the default socket), waits for it and prints
// "ID STATE exit=N"; exits 0 when the task ended as expected.
#include <taskd/client/client.h>

#include <cstdlib>
#include <iostream>

int main(int argc, char** argv) {
  int expect = argc > 1 ? std::atoi(argv[1]) : 0;
  taskd::client::Client client(taskd::client::OptionsFromEnvironment());

  taskd::v1::TaskSpec spec;
  spec.set_name("consumer");
  auto* exec = spec.mutable_exec();
  exec->add_argv("sh");
  exec->add_argv("-c");
  exec->add_argv("echo hello from consumer; exit " + std::to_string(expect));

  taskd::v1::Task task;
  grpc::Status s = client.Submit(spec, &task);
  if (!s.ok()) {
    std::cerr << "submit: " << s.error_message() << "\n";
    return 2;
  }
  s = client.Wait(task.id(), std::chrono::seconds(30), &task);
  if (!s.ok()) {
    std::cerr << "wait: " << s.error_message() << "\n";
    return 2;
  }
  std::string out;
  taskd::v1::ReadTaskLogsRequest logs;
  logs.set_id(task.id());
  s = client.ReadLogs(logs, [&](const taskd::v1::LogChunk& c) { out += c.data(); });
  std::cout << task.id() << " " << taskd::v1::TaskState_Name(task.state())
            << " exit=" << task.result().exit_code() << " output=" << out;
  bool ok = s.ok() && task.result().exit_code() == expect && out == "hello from consumer\n";
  return ok ? 0 : 1;
}
