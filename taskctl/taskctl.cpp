// taskctl: the command line for taskd, built on libtaskd_client.
//
// Data goes to stdout, diagnostics to stderr. Exit codes:
//   0   success (wait: the task COMPLETED)
//   N   wait / submit --wait: the task's own exit code when it ran
//   1   an error, or the waited task FAILED or was CANCELLED without an exit code
//   2   usage error
//   69  taskd cannot be reached
//   124 wait timed out before the task ended
//
// This file holds the global options, parsing and the choice of command;
// the commands are in cmd_*.cc (see commands.h).
#include <iostream>
#include <string>
#include <vector>

#include "common/default_address.h"
#include "taskctl/commands.h"

#ifndef TASKD_VERSION
#define TASKD_VERSION "dev"
#endif

namespace {

using namespace taskd::taskctl;  // NOLINT(google-build-using-namespace): this program's own helpers

// What follows the options: only a command that takes it (submit) may have
// any, and only what follows the first `--` may start with '-' (anything
// before it that does is a mistyped option: `--timout 5s -- sleep 1`).
// Prints the usage error and returns false when that rule is broken.
bool ExtrasFit(const std::vector<std::string>& extras, const Command* chosen, int argc,
               char** argv) {
  if (extras.empty()) return true;
  size_t after_dashdash = 0;
  for (int i = 1; i < argc; ++i) {
    if (std::string_view(argv[i]) == "--") {
      after_dashdash = static_cast<size_t>(argc - i - 1);
      break;
    }
  }
  const bool takes = chosen && chosen->takes_extras();
  const bool before_dashdash = extras.size() > after_dashdash;
  if (takes && !(before_dashdash && extras.front().rfind("-", 0) == 0)) return true;
  std::string what;
  for (const auto& e : extras) what += (what.empty() ? "" : " ") + e;
  std::cerr << "taskctl: unexpected argument(s): " << what
            << (takes ? " (an option of submit? a command starting with - goes after --)" : "")
            << "\nRun with --help for more information.\n";
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"taskctl: submit, inspect and control taskd tasks"};
  app.footer(
      "Exit codes: 0 success; wait and submit --wait exit with the task's own exit code when it "
      "ran, 0 when it COMPLETED, 1 when it FAILED or was CANCELLED without one, 124 when the "
      "wait timed out (wait A B: the first task that did not succeed decides); 1 other errors; "
      "2 usage errors; 69 taskd cannot be reached (or stopped during a wait).");
  app.require_subcommand(1);
  app.fallthrough();  // global options also after the subcommand: `taskctl get ID -o json`
  // submit's command lands in app.remaining() (see its prefix_command());
  // any other command with arguments left over is a usage error (ExtrasFit).
  app.allow_extras();
  std::string addr = taskd::DefaultAddress();
  std::string output = "table";
  app.add_option("--addr", addr, "taskd address: unix:PATH or HOST:PORT")
      ->envname("TASKD_ADDR")
      ->capture_default_str();
  std::string token_file, tls_ca, tls_cert, tls_key;
  app.add_option("--token-file", token_file,
                 "Send the token in this file as 'authorization: Bearer …' (taskd over TCP)")
      ->envname("TASKD_TOKEN_FILE");
  app.add_option("--tls-ca", tls_ca, "Use TLS; trust this CA (PEM) for taskd's certificate")
      ->envname("TASKD_TLS_CA");
  app.add_option("--tls-cert", tls_cert, "Client certificate (PEM) for mTLS; implies TLS");
  app.add_option("--tls-key", tls_key, "Client key (PEM) for mTLS");
  app.add_option("-o,--output", output, "Output format for read commands")
      ->check(CLI::IsMember({"table", "wide", "json", "jsonl", "yaml"}))
      ->capture_default_str();
  app.set_version_flag("--version", std::string("taskctl ") + TASKD_VERSION);

  Commands commands;
  AddSubmitCommands(app, commands);
  AddTaskCommands(app, commands);
  AddLogsCommands(app, commands);
  AddServerCommands(app, commands);
  auto* completion = app.add_subcommand(
      "completion", "Print a shell completion script: source <(taskctl completion bash)");
  std::string shell;
  completion->add_option("shell", shell, "bash or zsh")
      ->required()
      ->check(CLI::IsMember({"bash", "zsh"}));

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : kExitUsage;
  }
  Command* chosen = nullptr;
  for (auto& c : commands) {
    if (c->chosen()) chosen = c.get();
  }
  std::vector<std::string> extras = app.remaining();
  if (!ExtrasFit(extras, chosen, argc, argv)) return kExitUsage;
  if (*completion) {
    std::cout << CompletionScript(app, shell);
    return 0;
  }
  if (!chosen) return kExitUsage;

  taskd::client::ClientOptions copts{addr};
  try {
    if (!token_file.empty()) {
      try {
        copts.token = taskd::client::ReadTokenFile(token_file);
      } catch (const std::runtime_error& e) {
        throw UsageError(std::string("--token-file: ") + e.what());
      }
    }
    if (!tls_ca.empty() || !tls_cert.empty() || !tls_key.empty()) {
      if (tls_cert.empty() != tls_key.empty()) {
        throw UsageError("--tls-cert and --tls-key go together");
      }
      copts.tls = true;
      if (!tls_ca.empty()) copts.tls_ca_pem = ReadFileFlag(tls_ca, "--tls-ca");
      if (!tls_cert.empty()) copts.tls_cert_pem = ReadFileFlag(tls_cert, "--tls-cert");
      if (!tls_key.empty()) copts.tls_key_pem = ReadFileFlag(tls_key, "--tls-key");
    }
  } catch (const UsageError& e) {
    std::cerr << "taskctl: " << e.what() << "\n";
    return kExitUsage;
  }
  taskd::client::Client client(copts);
  Context ctx{client, addr, output, std::move(extras)};
  try {
    return chosen->Run(ctx);
  } catch (const UsageError& e) {
    std::cerr << "taskctl: " << e.what() << "\n";
    return kExitUsage;
  }
}
