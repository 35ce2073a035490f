// `taskctl completion bash|zsh`: scripts generated from the CLI11 command
// tree, so they always list the subcommands and flags this binary has.
// Task ids complete from `taskctl list -q` (unfinished tasks for cancel,
// wait and progress).
#include <CLI/CLI.hpp>
#include <sstream>

#include "taskctl/taskctl.h"

namespace taskd::taskctl {
namespace {

struct Command {
  std::string name;
  std::string description;
  std::vector<std::string> flags;    // take no value
  std::vector<std::string> options;  // take a value
  bool takes_ids = false;
  bool live_ids = false;
};

// Values an option completes to, when it has a fixed set.
std::string ValuesFor(const std::string& option) {
  if (option == "-o" || option == "--output") return "table wide json jsonl yaml";
  if (option == "--state") return "pending running completed failed cancelled";
  if (option == "--kill-mode") return "all group";
  return "";
}

std::vector<std::string> Names(const CLI::Option* o) {
  std::vector<std::string> names;
  for (const auto& s : o->get_snames()) names.push_back("-" + s);
  for (const auto& l : o->get_lnames()) names.push_back("--" + l);
  return names;
}

Command Describe(const CLI::App& app) {
  Command c;
  c.name = app.get_name();
  c.description = app.get_description();
  for (const CLI::Option* o : app.get_options()) {
    if (o->get_positional()) {
      if (o->get_name() == "id") c.takes_ids = true;
      continue;
    }
    bool flag = o->get_expected_max() == 0;  // add_flag sets expected(0)
    for (const auto& n : Names(o)) (flag ? c.flags : c.options).push_back(n);
  }
  c.live_ids = c.name == "cancel" || c.name == "wait";
  return c;
}

std::string Join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : " ") + s;
  return out;
}

// _arguments: "--name=[...]" for long options, "-o+[...]" for short ones.
const char* Sep(const std::string& option) { return option.rfind("--", 0) == 0 ? "=" : "+"; }

std::string ZshQuote(std::string s) {
  std::string out;
  for (char c : s) {
    if (c == '\'') {
      out += "'\\''";
    } else if (c == '[' || c == ']' || c == ':') {
      out += ' ';  // _arguments syntax characters
    } else {
      out += c;
    }
  }
  return out;
}

std::string Bash(const Command& root, const std::vector<Command>& subs) {
  std::ostringstream s;
  s << "# bash completion for taskctl: source <(taskctl completion bash)\n"
       "_taskctl_ids() {\n"
       "  local args=(list -q)\n"
       "  [ \"$1\" = live ] && args+=(--state pending --state running)\n"
       "  taskctl \"${args[@]}\" 2>/dev/null\n"
       "}\n"
       "_taskctl() {\n"
       "  local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}\n"
       "  local cmd='' i\n"
       "  for ((i = 1; i < COMP_CWORD; i++)); do\n"
       "    case ${COMP_WORDS[i]} in\n"
       "      --) return 0 ;;\n"
       "      -o|--output|--addr|--token-file|--tls-ca|--tls-cert|--tls-key) ((i++)) ;;\n"
       "      -*) ;;\n"
       "      *) cmd=${COMP_WORDS[i]}; break ;;\n"
       "    esac\n"
       "  done\n"
       "  case $prev in\n";
  for (const char* o : {"-o", "--output", "--state"}) {
    s << "    " << o << ") COMPREPLY=($(compgen -W '" << ValuesFor(o)
      << "' -- \"$cur\")); return 0 ;;\n";
  }
  s << "    --addr|--token-file|--tls-ca|--tls-cert|--tls-key|--cwd) "
       "COMPREPLY=($(compgen -f -- \"$cur\")); return 0 ;;\n";
  // Any other option that takes a value: nothing to offer.
  std::vector<std::string> valued;
  for (const auto& o : root.options) {
    if (ValuesFor(o).empty() && o != "--addr" && o.rfind("--t", 0) != 0) valued.push_back(o);
  }
  for (const auto& c : subs) {
    for (const auto& o : c.options) {
      if (ValuesFor(o).empty() && o != "--cwd") valued.push_back(o);
    }
  }
  std::sort(valued.begin(), valued.end());
  valued.erase(std::unique(valued.begin(), valued.end()), valued.end());
  if (!valued.empty()) {
    std::string alts;
    for (const auto& v : valued) alts += (alts.empty() ? "" : "|") + v;
    s << "    " << alts << ") return 0 ;;\n";
  }
  s << "  esac\n"
       "  case $cmd in\n";
  std::vector<std::string> names;
  for (const auto& c : subs) names.push_back(c.name);
  names.push_back("ls");
  s << "    '') COMPREPLY=($(compgen -W '" << Join(names) << " " << Join(root.flags) << " "
    << Join(root.options) << "' -- \"$cur\")) ;;\n";
  for (const auto& c : subs) {
    std::string pattern = c.name == "list" ? "list|ls" : c.name;
    s << "    " << pattern << ")\n";
    std::string words = Join(c.flags) + " " + Join(c.options);
    for (const auto& o : root.options) words += " " + o;  // global options work after it too

    if (c.name == "completion") {
      s << "      COMPREPLY=($(compgen -W 'bash zsh' -- \"$cur\")) ;;\n";
    } else if (c.takes_ids) {
      s << "      if [[ $cur == -* ]]; then COMPREPLY=($(compgen -W '" << words
        << "' -- \"$cur\")); else COMPREPLY=($(compgen -W \"$(_taskctl_ids "
        << (c.live_ids ? "live" : "all") << ")\" -- \"$cur\")); fi ;;\n";
    } else {
      s << "      COMPREPLY=($(compgen -W '" << words << "' -- \"$cur\")) ;;\n";
    }
  }
  s << "  esac\n"
       "}\n"
       "complete -F _taskctl taskctl\n";
  return s.str();
}

std::string Zsh(const Command& root, const std::vector<Command>& subs) {
  std::ostringstream s;
  s << "#compdef taskctl\n"
       "# zsh completion for taskctl: taskctl completion zsh > \"${fpath[1]}/_taskctl\"\n"
       "# (or: source <(taskctl completion zsh) after compinit)\n"
       "_taskctl_ids() {\n"
       "  local -a ids\n"
       "  if [[ $1 == live ]]; then\n"
       "    ids=(${(f)\"$(taskctl list -q --state pending --state running 2>/dev/null)\"})\n"
       "  else\n"
       "    ids=(${(f)\"$(taskctl list -q 2>/dev/null)\"})\n"
       "  fi\n"
       "  compadd -a ids\n"
       "}\n"
       "_taskctl() {\n"
       "  local curcontext=$curcontext state line\n"
       "  local -a common=(\n";
  for (const auto& o : root.options) {
    std::string values = ValuesFor(o);
    s << "    '" << o << Sep(o) << "[" << (o == "--addr" ? "taskd address" : "option")
      << "]:value:" << (values.empty() ? "_files" : "(" + values + ")") << "'\n";
  }
  s << "  )\n"
       "  _arguments -C $common '1:command:->cmd' '*::arg:->args'\n"
       "  case $state in\n"
       "    cmd)\n"
       "      local -a cmds=(\n";
  for (const auto& c : subs) {
    s << "        '" << c.name << ":" << ZshQuote(c.description) << "'\n";
  }
  s << "        'ls:List tasks'\n"
       "      )\n"
       "      _describe command cmds ;;\n"
       "    args)\n"
       "      case $line[1] in\n";
  for (const auto& c : subs) {
    s << "        " << (c.name == "list" ? "list|ls" : c.name) << ")\n"
      << "          _arguments $common";
    for (const auto& f : c.flags) s << " '" << f << "[flag]'";
    for (const auto& o : c.options) {
      std::string values = ValuesFor(o);
      s << " '*" << o << Sep(o) << "[option]:value:" << (values.empty() ? " " : "(" + values + ")")
        << "'";
    }
    if (c.name == "completion") {
      s << " '1:shell:(bash zsh)'";
    } else if (c.takes_ids) {
      s << " '*:task id:_taskctl_ids " << (c.live_ids ? "live" : "all") << "'";
    } else if (c.name == "submit") {
      s << " '*:command:_normal'";
    }
    s << " ;;\n";
  }
  s << "      esac ;;\n"
       "  esac\n"
       "}\n"
       "compdef _taskctl taskctl 2>/dev/null || _taskctl \"$@\"\n";
  return s.str();
}

}  // namespace

std::string CompletionScript(const CLI::App& app, const std::string& shell) {
  Command root = Describe(app);
  std::vector<Command> subs;
  for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; })) {
    subs.push_back(Describe(*sub));
  }
  return shell == "zsh" ? Zsh(root, subs) : Bash(root, subs);
}

}  // namespace taskd::taskctl
