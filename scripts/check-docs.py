#!/usr/bin/env python3
"""Docs-claims check: the README and docs name only things that exist.

Reads README.md, docs/*.md, bench/README.md and every README.md under tests/
(tracked or not ignored by git) and reports, as FILE:LINE: message, every

- repository path (file or directory) that does not exist, or that lies outside
  the repository (`../shared/...`); `FILE.rs::name` also needs `fn name` in FILE;
- script (`*.sh`, `*.py`) or source file named without a directory that exists
  nowhere in the repository;
- `roost SUBCOMMAND` (also `target/release/roost ...`, `cargo run -- ...`) that
  the binary does not have: the USAGE text and the command match in src/main.rs;
- `roost-loadgen --flag` that the load generator does not define: its clap
  `#[arg(...)]` fields in loadgen/src;
- zoo.cfg key that src/config does not know: `roost.*` anywhere, and `key=value`
  in code; the keys are the match arms of `Config::apply`, the families of
  `Config::apply_family` (server.N, authProvider.N, admin.*) and the
  IGNORED_KEYS / IGNORED_PREFIXES tables in src/config/keys.rs;
- and, in docs/configuration.md, a table row for an unknown key or a known key
  with no row (the reference page must list every key).

What counts as a path: a token with a slash whose first component is an entry of
the repository root or of the document's own directory, or which ends in a
source/doc extension (.md .sh .py .rs .toml .tsv .txt .json), or a code span that
is a single `name/`. Paths under git-ignored directories (target/, .venv/,
tests/kazoo/.work/) are produced by builds and runs and are not checked.
`<x>`, `{a,b}`, `*` and `...` in a path are placeholders (globs).

Where `--flag`s count as roost-loadgen's: after the word `roost-loadgen` in code,
and in code spans that start with `--` inside sections about the load generator
(heading mentions roost-loadgen or "load generator", or the document is
docs/benchmarks.md).

Usage: scripts/check-docs.py [--root DIR] [--facts] [--self-test] [FILE.md ...]
  --facts      print what was extracted from the source (keys, subcommands, flags)
  --self-test  check the checker: fake sources and a fake doc full of wrong names
               must give exactly the expected offences
Exit status: 0 clean, 1 offences found, 2 the source could not be parsed.
Python 3 standard library only.
"""

import fnmatch
import glob
import os
import re
import subprocess
import sys

# Names that look like zoo.cfg keys in docs but are, on purpose, not Roost's.
# Each is reported as stale once src/config knows it.
NOT_ROOST_KEYS = {
    "version": "the last line of /zookeeper/config (and zookeeper.version of envi), "
               "not a zoo.cfg key",
}

# Extensions that make a slash-token a repository path wherever it appears, and
# the ones a bare file name (no directory) is checked for.
PATH_EXTS = (".md", ".sh", ".py", ".rs", ".toml", ".tsv", ".txt", ".json")
BARE_EXTS = (".sh", ".py", ".rs", ".md")
# Scripts named in docs that are other projects' (not in this repository).
NOT_REPO_FILES = {
    "zkCli.sh": "Apache ZooKeeper's shell (Debian's zookeeper-bin)",
    "zkServer.sh": "Apache ZooKeeper's start script",
}
# roost.X that are file names, not keys.
FILE_SUFFIXES = {"rs", "md", "toml", "log", "cfg", "sh", "py", "json", "html", "txt", "conf"}


class SourceError(Exception):
    pass


# ---------------------------------------------------------------- source facts

def rust_block(text, start):
    """The text of the brace block that opens at or after `start`."""
    i = text.index("{", start)
    depth = 0
    j = i
    in_str = False
    while j < len(text):
        c = text[j]
        if in_str:
            if c == "\\":
                j += 2
                continue
            if c == '"':
                in_str = False
        elif c == '"':
            in_str = True
        elif c == "/" and text.startswith("//", j):
            j = text.index("\n", j)
            continue
        elif c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return text[i + 1:j]
        j += 1
    raise SourceError("unbalanced braces")


def fn_body(text, name):
    m = re.search(r"\bfn\s+%s\s*[(<]" % re.escape(name), text)
    if not m:
        raise SourceError("fn %s not found" % name)
    return rust_block(text, m.end())


def top_level_arms(block):
    """String patterns of the arms at depth 1 of the first `match key {` in block."""
    m = re.search(r"\bmatch\s+key\s*\{", block)
    if not m:
        raise SourceError("`match key {` not found")
    body = rust_block(block, m.start())
    keys = []
    depth = 0
    line_start = True
    i = 0
    while i < len(body):
        c = body[i]
        if line_start and depth == 0:
            am = re.match(r'\s*("[^"]*"(?:\s*\|\s*"[^"]*")*)\s*=>', body[i:])
            if am:
                keys += re.findall(r'"([^"]*)"', am.group(1))
        line_start = False
        if c == '"':
            j = i + 1
            while body[j] != '"':
                j += 2 if body[j] == "\\" else 1
            i = j + 1
            continue
        if c == "/" and body.startswith("//", i):
            i = body.index("\n", i)
            continue
        if c in "{([":
            depth += 1
        elif c in "})]":
            depth -= 1
        elif c == "\n":
            line_start = True
        i += 1
    return keys


def config_facts(mod_rs):
    """(keys, family prefixes, alias prefixes) from src/config/keys.rs text."""
    keys = set(top_level_arms(fn_body(mod_rs, "apply")))
    prefixes = set()
    family = fn_body(mod_rs, "apply_family")
    prefixes.update(re.findall(r'\bkey\s*\.\s*(?:strip_prefix|starts_with)\(\s*"([^"]+)"\s*\)', family))
    for m in re.finditer(r"const\s+(\w*(?:KEYS|PREFIXES)\w*)\s*:\s*&\[[^\]]*\]\s*=\s*&\[", mod_rs):
        table = mod_rs[m.end():mod_rs.index("];", m.end())]
        firsts = re.findall(r'\(\s*"([^"]+)"', table) or re.findall(r'"([^"]+)"', table)
        (prefixes if "PREFIX" in m.group(1) else keys).update(firsts)
    aliases = set(re.findall(r'\.\s*strip_prefix\(\s*"(zookeeper\.)"\s*\)', mod_rs))
    if len(keys) < 20 or "dataDir" not in keys or not prefixes:
        raise SourceError("found only %d keys (%s) and prefixes %s: has Config::apply changed shape?"
                          % (len(keys), ", ".join(sorted(keys)[:5]), sorted(prefixes)))
    return keys, prefixes, aliases


def roost_commands(main_rs):
    """{top-level subcommand: set of nested subcommands (empty: none)} from src/main.rs."""
    m = re.search(r'const\s+USAGE\s*:\s*&str\s*=\s*"((?:[^"\\]|\\.)*)"', main_rs, re.S)
    if not m:
        raise SourceError("const USAGE not found in src/main.rs")
    cmds = {}
    for line in m.group(1).splitlines():
        # `  roost log dump DIR      what it does`: the command ends at a run of blanks.
        line = re.split(r"\s{2,}", line.strip())[0]
        lm = re.match(r"roost\s+([a-z][\w-]*)(?:\s+([a-z][\w-]*)\b)?", line)
        if lm:
            cmds.setdefault(lm.group(1), set())
            if lm.group(2):
                cmds[lm.group(1)].add(lm.group(2))
    try:
        run = fn_body(main_rs, "run")
    except SourceError:
        run = ""
    for arm in re.findall(r'Some\(((?:"[^"]*"\s*\|?\s*)+)\)\s*(?:\|\s*None\s*)?=>', run):
        for word in re.findall(r'"([^"]*)"', arm):
            cmds.setdefault(word, set())
    if "serve" not in cmds:
        raise SourceError("no `roost serve` in src/main.rs's USAGE: has it changed shape?")
    return cmds


def loadgen_flags(sources):
    """The long (and short) flags clap derives from `#[arg(...)]` fields."""
    flags = {"--help", "-h"}
    for text in sources:
        if re.search(r"#\[(?:command|clap)\([^\]]*\bversion\b", text, re.S):
            flags.update({"--version", "-V"})
        for m in re.finditer(r"#\[(?:arg|clap)\((.*?)\)\]\s*((?:#\[[^\]]*\]\s*|///[^\n]*\n\s*)*)"
                             r"(?:pub(?:\([^)]*\))?\s+)?(\w+)\s*:", text, re.S):
            attr, field = m.group(1), m.group(3)
            lm = re.search(r'\blong\s*=\s*"([^"]+)"', attr)
            if lm:
                flags.add("--" + lm.group(1))
            elif re.search(r"\blong\b", attr):
                flags.add("--" + field.replace("_", "-"))
            sm = re.search(r"\bshort\s*=\s*'(.)'", attr)
            if sm:
                flags.add("-" + sm.group(1))
            elif re.search(r"\bshort\b", attr):
                flags.add("-" + field[0])
            for alias in re.findall(r'\b(?:visible_)?alias\s*=\s*"([^"]+)"', attr):
                flags.add("--" + alias)
    if len(flags) < 10:
        raise SourceError("found only %d roost-loadgen flags: has loadgen/src changed shape?" % len(flags))
    return flags


class Facts:
    def __init__(self, keys, prefixes, aliases, commands, flags):
        self.keys, self.prefixes, self.aliases = keys, prefixes, aliases
        self.commands, self.flags = commands, flags

    @classmethod
    def from_repo(cls, root):
        def read(rel):
            with open(os.path.join(root, rel), encoding="utf-8") as fh:
                return fh.read()
        keys, prefixes, aliases = config_facts(read("src/config/keys.rs"))
        commands = roost_commands(read("src/main.rs"))
        sources = [read(os.path.relpath(p, root))
                   for p in sorted(glob.glob(os.path.join(root, "loadgen/src/**/*.rs"), recursive=True))]
        return cls(keys, prefixes, aliases, commands, loadgen_flags(sources))

    def key_known(self, key):
        if key in self.keys or any(key.startswith(p) and len(key) > len(p) for p in self.prefixes):
            return True
        return any(key.startswith(a) and self.key_known(key[len(a):]) for a in self.aliases)


# ---------------------------------------------------------------- the repository

class Repo:
    def __init__(self, root):
        self.root = os.path.abspath(root)
        self.top = set(os.listdir(self.root))
        self._ignored = {}
        self._files = None

    def files(self):
        """Every file, relative, not under an ignored directory."""
        if self._files is None:
            try:
                out = subprocess.run(["git", "-C", self.root, "ls-files", "-z", "--cached", "--others",
                                      "--exclude-standard"], capture_output=True, check=True).stdout
                self._files = sorted({f for f in out.decode().split("\0")
                                      if f and os.path.exists(os.path.join(self.root, f))})
            except (OSError, subprocess.CalledProcessError):
                found = []
                for d, dirs, names in os.walk(self.root):
                    rel = os.path.relpath(d, self.root)
                    dirs[:] = [x for x in dirs if not self.ignored(os.path.normpath(os.path.join(rel, x)))]
                    found += [os.path.normpath(os.path.join(rel, n)) for n in names]
                self._files = sorted(found)
        return self._files

    def ignored(self, rel):
        """Is rel (or a directory above it) ignored by git?"""
        parts = rel.split("/")
        for i in range(1, len(parts) + 1):
            p = "/".join(parts[:i])
            if p not in self._ignored:
                self._ignored[p] = self._check_ignore(p)
            if self._ignored[p]:
                return True
        return False

    def _check_ignore(self, p):
        if p in (".git",):
            return True
        try:
            r = subprocess.run(["git", "-C", self.root, "check-ignore", "-q", "--no-index", p],
                               capture_output=True)
            if r.returncode in (0, 1):
                return r.returncode == 0
        except OSError:
            pass
        # No git: the root .gitignore's plain patterns.
        try:
            with open(os.path.join(self.root, ".gitignore")) as fh:
                pats = [l.strip() for l in fh if l.strip() and not l.startswith("#")]
        except OSError:
            return False
        for pat in pats:
            anchored = pat.startswith("/")
            pat = pat.strip("/")
            if fnmatch.fnmatch(p, pat) or (not anchored and fnmatch.fnmatch(p.split("/")[-1], pat)):
                return True
        return False

    def exists(self, rel):
        """Does the (possibly globbed) relative path exist?"""
        if not re.search(r"[*?\[]", rel):
            return os.path.exists(os.path.join(self.root, rel))
        return bool(glob.glob(os.path.join(glob.escape(self.root), rel)))

    def by_basename(self, name):
        return [f for f in self.files() if f.rsplit("/", 1)[-1] == name]


# ---------------------------------------------------------------- markdown

class Item:
    """A piece of a document: kind is 'span' (inline code), 'code' (a line of a
    code block, continuation lines joined) or 'prose'."""

    def __init__(self, kind, text, line, section, line_of=None):
        self.kind, self.text, self.line, self.section = kind, text, line, section
        self._line_of = line_of

    def line_at(self, offset):
        return self._line_of(offset) if self._line_of else self.line


def is_list_item(line):
    return re.match(r"\s*(?:[-*+]|\d+[.)])\s", line) is not None


def parse_markdown(text):
    lines = text.split("\n")
    items = []
    headings = []          # stack of (level, text)
    para = []              # (line number, text)
    fence = None
    code_buf = None        # (line number, joined text) of a continued code line
    prev_blank = True
    last_text_line = ""

    def section():
        return " / ".join(h for _, h in headings)

    def flush_para():
        nonlocal para
        if not para:
            return
        starts = []
        buf = ""
        for n, t in para:
            starts.append((len(buf), n))
            buf += t + "\n"

        def line_of(off, starts=starts):
            n = starts[0][1]
            for s, ln in starts:
                if s <= off:
                    n = ln
            return n
        sec = section()
        prose = list(buf)
        for m in re.finditer(r"(`+)(.+?)(?<!`)\1(?!`)", buf, re.S):
            items.append(Item("span", m.group(2).strip(), line_of(m.start()), sec,
                              lambda o, b=m.start(2), f=line_of: f(b + o)))
            for k in range(m.start(), m.end()):
                if prose[k] != "\n":
                    prose[k] = " "
        items.append(Item("prose", "".join(prose), starts[0][1], sec, line_of))
        para = []

    def code_line(n, t):
        nonlocal code_buf
        if code_buf is not None:
            cont = t.strip()
            if code_buf[1].lstrip().startswith("#"):
                cont = cont.lstrip("#").strip()
            code_buf = (code_buf[0], code_buf[1][:-1] + " " + cont)
        else:
            code_buf = (n, t)
        if code_buf[1].rstrip().endswith("\\"):
            code_buf = (code_buf[0], code_buf[1].rstrip())
            return
        items.append(Item("code", code_buf[1], code_buf[0], section()))
        code_buf = None

    for i, line in enumerate(lines):
        n = i + 1
        stripped = line.strip()
        if fence is not None:
            if stripped.startswith(fence):
                fence = None
                code_buf = None
            else:
                code_line(n, line)
            prev_blank = False
            continue
        fm = re.match(r"\s*(```+|~~~+)", line)
        if fm:
            flush_para()
            fence = fm.group(1)
            prev_blank = False
            continue
        if not stripped:
            flush_para()
            prev_blank = True
            continue
        indented = line.startswith("    ") or line.startswith("\t")
        if indented and (prev_blank or getattr(parse_markdown, "_in_indented", False)) and not para \
                and not is_list_item(last_text_line):
            parse_markdown._in_indented = True
            code_line(n, line.strip())
            prev_blank = False
            continue
        parse_markdown._in_indented = False
        hm = re.match(r"(#{1,6})\s+(.*?)\s*#*\s*$", line)
        if hm:
            flush_para()
            level = len(hm.group(1))
            while headings and headings[-1][0] >= level:
                headings.pop()
            headings.append((level, hm.group(2)))
            prev_blank = False
            last_text_line = ""
            continue
        para.append((n, line))
        if not line.startswith(" "):
            last_text_line = line
        prev_blank = False
    flush_para()
    parse_markdown._in_indented = False
    return items


# ---------------------------------------------------------------- the checks

TOKEN = re.compile(r"[\w.~$<>{}*…@+-]*/[\w.~$<>{},*…@+/:-]*")


def split_commas(tok):
    """Cut a token at the first comma outside braces."""
    depth = 0
    for i, c in enumerate(tok):
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
        elif c == "," and depth == 0:
            return tok[:i]
    return tok


def to_glob(path):
    """Placeholders to glob syntax; braces expand to several globs."""
    path = re.sub(r"<[^<>/]*>", "*", path)
    path = path.replace("…", "*").replace("...", "*")
    m = re.search(r"\{([^{}]*)\}", path)
    if m:
        out = []
        for alt in m.group(1).split(","):
            out += to_glob(path[:m.start()] + alt + path[m.end():])
        return out
    path = re.sub(r"\*+", "*", path)
    return [path]


class Checker:
    def __init__(self, repo, facts):
        self.repo, self.facts = repo, facts
        self.offences = []
        self.used_exemptions = set()

    def report(self, doc, line, msg):
        self.offences.append((doc, line, msg))

    # ---- paths
    def check_path_token(self, doc, line, tok, in_span, whole_span):
        tok = split_commas(tok)
        fn = None
        if "::" in tok:
            tok, fn = tok.split("::", 1)
            fn = re.split(r"[^\w*.…]", fn)[0].rstrip(",;:") or None
        tok = tok.rstrip(".,:;)]}'\"")
        if not tok or "://" in tok or tok.startswith(("/", "~", "$")) or "$" in tok:
            return
        while tok.startswith("./"):
            tok = tok[2:]
        docdir = os.path.dirname(doc)
        if tok.startswith("../"):
            rel = os.path.normpath(os.path.join(docdir, tok))
            if rel.startswith(".."):
                self.report(doc, line, "`%s` is outside the repository (cite files in the repository)" % tok)
                return
            tok = rel
        first = tok.split("/")[0]
        base = None
        if docdir and os.path.exists(os.path.join(self.repo.root, docdir, first)) and first:
            base = docdir
        elif first in self.repo.top:
            base = ""
        elif tok.rstrip("/").lower().endswith(PATH_EXTS) and re.match(r"^[a-z][\w.-]*$", first):
            base = ""          # looks like a repository file: it must be one
        elif in_span and whole_span and re.match(r"^[a-z][\w.-]*/$", tok):
            base = ""          # a directory named on its own, like `tuning/`
        if base is None:
            return
        rel = os.path.normpath(os.path.join(base, tok)) if tok.strip("/") else base
        if rel in ("", ".") or self.repo.ignored(rel.split("*")[0].rstrip("/") or rel):
            return
        globs = to_glob(rel)
        if not any(self.repo.exists(g) for g in globs):
            where = "" if base == "" else " (relative to %s/)" % base
            self.report(doc, line, "`%s` does not exist in the repository%s" % (tok, where))
            return
        if fn and rel.endswith(".rs"):
            self.check_fn(doc, line, tok, [g for g in globs if self.repo.exists(g)], fn)

    def check_fn(self, doc, line, shown, paths, fn):
        pat = re.escape(fn.rstrip(".…_*")) if re.search(r"(\.\.\.|…|\*)$", fn) else re.escape(fn) + r"\b"
        pat = pat.replace(r"\*", r"\w*")
        for p in paths:
            for f in glob.glob(os.path.join(glob.escape(self.repo.root), p)):
                with open(f, encoding="utf-8", errors="replace") as fh:
                    if re.search(r"\bfn\s+" + pat, fh.read()):
                        return
        self.report(doc, line, "`%s::%s`: no such fn in %s" % (shown, fn, shown))

    def check_bare_file(self, doc, line, tok):
        fn = None
        if "::" in tok:
            tok, fn = tok.split("::", 1)
        if not re.match(r"^[\w-][\w.-]*\.\w+$", tok) or not tok.lower().endswith(BARE_EXTS) \
                or tok in NOT_REPO_FILES:
            return
        docdir = os.path.dirname(doc)
        for cand in (os.path.join(docdir, tok), tok):
            if os.path.exists(os.path.join(self.repo.root, cand)):
                if fn and tok.endswith(".rs"):
                    self.check_fn(doc, line, tok, [os.path.normpath(cand)], re.split(r"[^\w*.…]", fn)[0])
                return
        found = self.repo.by_basename(tok)
        if not found:
            self.report(doc, line, "`%s` does not exist anywhere in the repository" % tok)
        elif fn and tok.endswith(".rs"):
            self.check_fn(doc, line, tok, found, re.split(r"[^\w*.…]", fn)[0])

    def check_paths(self, doc, item):
        text = item.text
        if item.kind in ("span", "code"):
            words = text.split()
            for w in words:
                w = w.strip("`'\"()[],;")
                if "/" not in w and "::" in w or re.match(r"^[\w.-]+\.\w+$", w):
                    self.check_bare_file(doc, item.line, w.rstrip(".,:;"))
        for m in TOKEN.finditer(text):
            tok = m.group(0)
            whole = item.kind == "span" and tok == text
            self.check_path_token(doc, item.line_at(m.start()), tok, item.kind == "span", whole)
        if item.kind == "prose":
            for m in re.finditer(r"\]\(([^)\s#]+)(?:#[^)]*)?\)", text):
                target = m.group(1)
                if "://" in target or target.startswith("mailto:"):
                    continue
                rel = os.path.normpath(os.path.join(os.path.dirname(doc), target))
                if rel.startswith(".."):
                    self.report(doc, item.line_at(m.start()), "link `%s` leaves the repository" % target)
                elif not self.repo.exists(rel) and not self.repo.ignored(rel):
                    self.report(doc, item.line_at(m.start()), "link `%s` points at nothing" % target)

    # ---- commands
    @staticmethod
    def segments(text):
        text = re.sub(r'"[^"]*"' + "|'[^']*'", " ", text)
        return [s for s in re.split(r"&&|\|\||[;|()]|\$\(", text) if s.strip()]

    def check_commands(self, doc, item, loadgen_section):
        if item.kind not in ("span", "code"):
            return
        for seg in self.segments(item.text):
            words = [w.strip("[]") for w in seg.split()]
            words = [w for w in words if w]
            i = 0
            while i < len(words) and (re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", words[i])
                                      or words[i] in ("sudo", "exec", "env", "nice", "time", "$")):
                i += 1
            cmd = words[i:]
            if cmd and cmd[0].rsplit("/", 1)[-1] == "roost":
                self.check_subcommand(doc, item.line, cmd[1:])
            elif cmd[:2] == ["cargo", "run"] and "--" in cmd:
                pre = cmd[:cmd.index("--")]
                pkg = [pre[k + 1] for k, w in enumerate(pre[:-1]) if w in ("-p", "--package", "--bin")]
                if all(p == "roost" for p in pkg):
                    self.check_subcommand(doc, item.line, cmd[cmd.index("--") + 1:])
            for k, w in enumerate(words):
                if "=" not in w and w.rsplit("/", 1)[-1] == "roost-loadgen":
                    self.check_flags(doc, item.line, words[k + 1:])
                    break
            else:
                if loadgen_section and item.kind == "span" and words and words[0].startswith("--") \
                        and seg is self.segments(item.text)[0]:
                    self.check_flags(doc, item.line, words)

    def check_subcommand(self, doc, line, args):
        if not args:
            return
        sub = args[0]
        if re.search(r"[A-Z<\[{.…]", sub) or sub.startswith("$"):
            return       # a placeholder (SUBCOMMAND, <cmd>, ...)
        cmds = self.facts.commands
        if sub not in cmds:
            self.report(doc, line, "`roost %s`: the binary has no subcommand `%s` (src/main.rs USAGE: %s)"
                        % (sub, sub, ", ".join(sorted(c for c in cmds if not c.startswith("-")))))
            return
        nested = cmds[sub]
        if nested and len(args) > 1 and not re.search(r"[A-Z<\[{.…]", args[1]) and args[1] not in nested:
            self.report(doc, line, "`roost %s %s`: no such subcommand (roost %s takes %s)"
                        % (sub, args[1], sub, ", ".join(sorted(nested))))

    def check_flags(self, doc, line, words):
        for w in words:
            if w.startswith("--") and len(w) > 2:
                flag = w.split("=", 1)[0].rstrip(".,:;`")
                if re.match(r"^--[a-z][\w-]*$", flag) and flag not in self.facts.flags:
                    self.report(doc, line, "`roost-loadgen %s`: loadgen/src defines no such flag" % flag)

    # ---- config keys
    def key_ok(self, key):
        if self.facts.key_known(key):
            return True
        bare = key
        for a in self.facts.aliases:
            if key.startswith(a):
                bare = key[len(a):]
        if bare in NOT_ROOST_KEYS or key in NOT_ROOST_KEYS:
            self.used_exemptions.add(bare if bare in NOT_ROOST_KEYS else key)
            return True
        return False

    def check_keys(self, doc, item):
        for m in re.finditer(r"(?<![\w./-])roost\.([A-Za-z][A-Za-z0-9]*)\b(?![/-])", item.text):
            if m.group(1) in FILE_SUFFIXES:
                continue
            key = "roost." + m.group(1)
            if not self.key_ok(key):
                self.report(doc, item.line_at(m.start()), "`%s`: src/config does not know this key" % key)
        if item.kind not in ("span", "code") or "://" in item.text:
            return
        for m in re.finditer(r"(?<![\w.$/:-])([A-Za-z0-9]+(?:\.[A-Za-z0-9]+)*)=", item.text):
            key = m.group(1)
            if re.match(r"^[A-Z0-9]+$", key) or key.startswith("roost."):
                continue     # an environment variable; roost.* is checked above
            if not self.key_ok(key):
                self.report(doc, item.line_at(m.start()), "`%s=`: src/config does not know the key `%s`" % (key, key))

    def check_reference_page(self, doc, text):
        """docs/configuration.md: every row's key is known; every known key has a row."""
        listed = []
        for n, line in enumerate(text.split("\n"), 1):
            if not line.startswith("|") or re.match(r"^\|[\s|:-]+\|?$", line):
                continue
            cell = line.split("|")[1]
            for k in re.findall(r"`([^`]+)`", cell):
                k = k.split("=")[0].strip()
                listed.append((n, k))
                fam = re.sub(r"(\.N|\.\*|\*)$", ".", k)
                if fam != k and fam in self.facts.prefixes:
                    continue
                if not self.key_ok(k):
                    self.report(doc, n, "`%s`: listed as a key, but src/config does not know it" % k)
        names = {k for _, k in listed}
        for key in sorted(self.facts.keys):
            if key not in names:
                self.report(doc, 1, "`%s` is a key src/config reads, but has no row here" % key)
        for p in sorted(self.facts.prefixes):
            if not any(k.startswith(p) for k in names):
                self.report(doc, 1, "`%s*` (a key family src/config reads) has no row here" % p)

    # ---- one document
    def check_doc(self, doc, text):
        items = parse_markdown(text)
        h1 = next((i.section.split(" / ")[0] for i in items if i.section), "")
        for item in items:
            loadgen_section = (doc == "docs/benchmarks.md" or h1.lower() == "benchmarks"
                               or re.search(r"roost-loadgen|load generator", item.section, re.I))
            self.check_paths(doc, item)
            self.check_commands(doc, item, bool(loadgen_section))
            self.check_keys(doc, item)
        if doc == "docs/configuration.md":
            self.check_reference_page(doc, text)


def default_docs(repo):
    docs = ["README.md", "bench/README.md"]
    docs += sorted(f for f in repo.files() if re.match(r"^docs/[^/]+\.md$", f))
    docs += sorted(f for f in repo.files() if f.startswith("tests/") and f.endswith("/README.md"))
    return [d for d in dict.fromkeys(docs) if os.path.exists(os.path.join(repo.root, d))]


# ---------------------------------------------------------------- self-test

FAKE_CONFIG = r'''
const IGNORED_KEYS: &[(&str, &str)] = &[("secureClientPort", "no TLS"), ("syncEnabled", "x")];
const IGNORED_PREFIXES: &[(&str, &str)] = &[("ssl.", "TLS is not supported")];
const KNOWN_PROVIDER_CLASSES: &[&str] = &["org.Example"];
fn parse() { if let Some(s) = property.key.strip_prefix("zookeeper.") {} }
fn apply(&mut self, key: &str) -> Result<bool, E> {
    match key {
        "tickTime" => self.t = 1,
        "dataDir" => self.d = 2, // "notAKey" => in a comment
        "peerType" => {
            self.p = match value { "participant" => 1, _ => 2 }
        }
        "roost.jaasConfig" | "java.security.auth.login.config" => {}
        "a1" => {}
        "a2" | "a3" => {}
        "a4" => {
            if x { "nested" => 1 }
        }
        "a5" => self.apply_family(at, "notAKeyEither", value)?,
        "b1" => {}
        "b2" => {}
        "b3" => {}
        "b4" => {}
        "b5" => {}
        "b6" => {}
        "b7" => {}
        "b8" => {}
        "b9" => {}
        "b10" => {}
        "b11" => {}
        "b12" => {}
        "b13" => {}
        "b14" => {}
        "b15" => {}
        _ => return self.apply_family(at, key),
    }
    Ok(true)
}
fn apply_family(&mut self, key: &str) -> Result<bool, E> {
    if let Some(id) = key.strip_prefix("server.") {}
    if key.starts_with("admin.") {}
    Ok(false)
}
'''

FAKE_MAIN = r'''
const USAGE: &str = "usage:
  roost serve [--config FILE]     run
  roost log dump DIR              dump
  roost version                   version";
fn run(args: &[String]) -> R { match x { Some("serve") => 1, Some("help" | "--help") | None => 2, _ => 3 } }
'''

FAKE_LOADGEN = r'''
#[derive(Parser)]
#[command(name = "roost-loadgen", version)]
struct Args {
    /// Servers.
    #[arg(long, default_value = "x", value_delimiter = ',')]
    servers: Vec<String>,
    #[arg(long, default_value_t = 1.0)]
    duration: f64,
    /// Named.
    #[arg(long = "read-ratio")]
    ratio: String,
    #[arg(long, help_heading = "Failover")]
    kill_cmd: Option<String>,
    #[arg(short, long)]
    quiet: bool,
    #[arg(long)] a1: bool, #[arg(long)] a2: bool, #[arg(long)] a3: bool,
}
'''

FAKE_DOC_GOOD = """# Fake

Run `roost serve --config zoo.cfg` or `cargo run --release -- serve`; dump with
`target/release/roost log dump DIR`. Files: `docs/fake-existing.md`, scripts/ok.sh,
`ok.sh`, `src/lib.rs::real_fn`, `src/lib.rs::real_...`, `dataDir/myid`,
`OUT/summary.md`, `.work/results-<server>.tsv`, `target/release/roost`, `/usr/share/x.jar`,
`docs/{fake-existing,other}.md` no: see below. Keys: `tickTime=2000`,
`zookeeper.tickTime=1`, `server.1=127.0.0.1:1:2`, `admin.enableServer=false`,
`ssl.keyStore=x`, roost.jaasConfig, `syncEnabled=true` (ZooKeeper's), `WARMUP_S=1 DOCS= x`,
`-Dzookeeper.x.y=1`, `user_super="x"`.

```
roost-loadgen --servers a,b --duration 3 \\
  --read-ratio 1:0 -q --quiet --help
tickTime=2000
```

## roost-loadgen workloads

`--kill-cmd "ok.sh x --after-leader 1"` and `--servers`.
"""

FAKE_DOC_BAD = """# Fake

Layout: `tuning/` notes, `docs/missing.md`, scripts/missing.sh, `nope.py`,
[a link](nowhere.md), `../shared/reference/x.tsv`, `src/lib.rs::no_such_fn`,
`other/thing.md`.

Run `roost frobnicate` and `roost log shred DIR`; `cargo run -- bogus`.

    roost-loadgen --servers a --no-such-flag 3

Keys: roost.noSuchKey, `tickTim=2000`, `zookeeper.bogusKey=1`.

## roost-loadgen section

`--wrong-flag N`
"""

EXPECTED_BAD = [
    (3, "`tuning/` does not exist"),
    (3, "`docs/missing.md` does not exist"),
    (3, "`scripts/missing.sh` does not exist"),
    (3, "`nope.py` does not exist anywhere"),
    (4, "link `nowhere.md` points at nothing"),
    (4, "`../shared/reference/x.tsv` is outside the repository"),
    (4, "`src/lib.rs::no_such_fn`: no such fn"),
    (5, "`other/thing.md` does not exist"),
    (7, "`roost frobnicate`"),
    (7, "`roost log shred`"),
    (7, "`roost bogus`"),
    (9, "`roost-loadgen --no-such-flag`"),
    (11, "`roost.noSuchKey`"),
    (11, "`tickTim=`"),
    (11, "`zookeeper.bogusKey=`"),
    (15, "`roost-loadgen --wrong-flag`"),
]


def self_test():
    import tempfile
    failures = []
    keys, prefixes, aliases = config_facts(FAKE_CONFIG)
    want_keys = {"tickTime", "dataDir", "peerType", "roost.jaasConfig", "java.security.auth.login.config",
                 "secureClientPort", "syncEnabled"} | {"a%d" % i for i in range(1, 6)} \
        | {"b%d" % i for i in range(1, 16)}
    if keys != want_keys:
        failures.append("config keys: got %s, want %s" % (sorted(keys), sorted(want_keys)))
    if prefixes != {"server.", "admin.", "ssl."} or aliases != {"zookeeper."}:
        failures.append("config prefixes/aliases: got %s %s" % (sorted(prefixes), sorted(aliases)))
    cmds = roost_commands(FAKE_MAIN)
    if cmds != {"serve": set(), "log": {"dump"}, "version": set(), "help": set(), "--help": set()}:
        failures.append("roost commands: got %s" % cmds)
    flags = loadgen_flags([FAKE_LOADGEN])
    want_flags = {"--servers", "--duration", "--read-ratio", "--kill-cmd", "--quiet", "-q", "--a1",
                  "--a2", "--a3", "--help", "-h", "--version", "-V"}
    if flags != want_flags:
        failures.append("loadgen flags: got %s, want %s" % (sorted(flags), sorted(want_flags)))
    with tempfile.TemporaryDirectory() as root:
        for rel, body in (("docs/fake-existing.md", ""), ("docs/other.md", ""), ("scripts/ok.sh", ""),
                          ("src/lib.rs", "fn real_fn() {}\nfn real_thing() {}\n"),
                          (".gitignore", "/target\n.work\n")):
            os.makedirs(os.path.dirname(os.path.join(root, rel)) or root, exist_ok=True)
            with open(os.path.join(root, rel), "w") as fh:
                fh.write(body)
        facts = Facts(keys, prefixes, aliases, cmds, flags)
        good = Checker(Repo(root), facts)
        good.check_doc("FAKE-GOOD.md", FAKE_DOC_GOOD)
        for o in good.offences:
            failures.append("false positive: %s:%d: %s" % o)
        bad = Checker(Repo(root), facts)
        bad.check_doc("FAKE-BAD.md", FAKE_DOC_BAD)
        got = list(bad.offences)
        for line, needle in EXPECTED_BAD:
            hit = [o for o in got if o[1] == line and needle in o[2]]
            if not hit:
                failures.append("not reported: line %d %s" % (line, needle))
            for o in hit:
                got.remove(o)
        for o in got:
            failures.append("unexpected: %s:%d: %s" % o)
        page = Checker(Repo(root), facts)
        page.check_reference_page("docs/configuration.md",
                                  "| key | default |\n|---|---|\n| `tickTime` | 2000 |\n| `noSuch` | 1 |\n"
                                  "| `server.N` | |\n")
        msgs = [o[2] for o in page.offences]
        for needle in ("`noSuch`: listed as a key", "`dataDir` is a key src/config reads",
                       "`admin.*`", "`ssl.*`"):
            if not any(needle in m for m in msgs):
                failures.append("reference page: not reported: %s (got %s)" % (needle, msgs))
        if any("`tickTime` is a key" in m or "`server.*`" in m for m in msgs):
            failures.append("reference page: false positive in %s" % msgs)
    for f in failures:
        print("check-docs self-test: FAIL: " + f)
    print("check-docs self-test: %s (%d expected offences, %d checks of extraction)"
          % ("FAIL" if failures else "ok", len(EXPECTED_BAD), 4))
    return 1 if failures else 0


# ---------------------------------------------------------------- main

def main(argv):
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    args = list(argv)
    show_facts = False
    docs = []
    while args:
        a = args.pop(0)
        if a == "--self-test":
            return self_test()
        if a == "--facts":
            show_facts = True
        elif a == "--root":
            root = args.pop(0)
        elif a in ("-h", "--help"):
            print(__doc__)
            return 0
        elif a.startswith("-"):
            print("check-docs: unknown option %s" % a, file=sys.stderr)
            return 2
        else:
            docs.append(a)
    repo = Repo(root)
    try:
        facts = Facts.from_repo(repo.root)
    except (SourceError, OSError, ValueError) as e:
        print("check-docs: cannot read the facts from the source: %s" % e, file=sys.stderr)
        return 2
    if show_facts:
        print("config keys (%d): %s" % (len(facts.keys), " ".join(sorted(facts.keys))))
        print("config key families: %s" % " ".join(p + "*" for p in sorted(facts.prefixes)))
        print("key aliases (prefix + known key): %s" % " ".join(sorted(facts.aliases)))
        print("roost subcommands: %s" % "; ".join(
            c + (" " + "|".join(sorted(n)) if n else "") for c, n in sorted(facts.commands.items())))
        print("roost-loadgen flags (%d): %s" % (len(facts.flags), " ".join(sorted(facts.flags))))
        return 0
    argv_docs = bool(docs)
    if docs:
        docs = [os.path.relpath(os.path.abspath(d), repo.root) for d in docs]
    else:
        docs = default_docs(repo)
    checker = Checker(repo, facts)
    if not argv_docs and "docs/configuration.md" not in docs:
        checker.report("docs/configuration.md", 0, "missing: the configuration reference must list every key")
    for doc in docs:
        with open(os.path.join(repo.root, doc), encoding="utf-8") as fh:
            checker.check_doc(doc, fh.read())
    for doc, line, msg in sorted(set(checker.offences)):
        print("%s:%d: %s" % (doc, line, msg))
    for key in sorted(set(NOT_ROOST_KEYS) & (facts.keys | {k for k in NOT_ROOST_KEYS if facts.key_known(k)})):
        print("check-docs: note: `%s` is now known to src/config; remove it from NOT_ROOST_KEYS" % key)
    n = len(set(checker.offences))
    print("check-docs: %d documents, %d offences" % (len(docs), n))
    return 1 if n else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
