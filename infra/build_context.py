"""What Docker sends as an image's build context, and a tag named after its content.

The repositories are immutable, so a tag may be pushed once: the program tags each image it builds
by a digest of what the build reads (the files `.dockerignore` lets through, the Dockerfile and the
build settings). Same content, same tag, nothing to rebuild; changed content, a new tag.

`.dockerignore` is read and matched as BuildKit does, ported from moby/patternmatcher
(`ignorefile/ignorefile.go` ReadAll, `patternmatcher.go` New, compile, match and
MatchesOrParentMatches). The digest must change whenever pulumi-docker-build's own context hash
does (`provider/internal/context.go` hashBuildContext: each included file's content, relative path
and mode, and the Dockerfile's content), or the provider would rebuild and push a tag that exists.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import re
from dataclasses import dataclass
from pathlib import Path

CONTENT_TAG_PREFIX = "content-"
CONTENT_TAG_HEX = 20  # 80 bits: no two contexts of one repository share a tag


def _go_clean(path: str) -> str:
    """Go's filepath.Clean on a slash path ("" is "."; one leading slash)."""
    cleaned = posixpath.normpath(path) if path else "."
    return "/" + cleaned.lstrip("/") if cleaned.startswith("//") else cleaned


def _go_dir(path: str) -> str:
    """Go's filepath.Dir: all but the last element, cleaned."""
    return _go_clean(path[: path.rfind("/") + 1])


def read_ignore_file(text: str) -> list[str]:
    """ignorefile.ReadAll: comments and blank lines dropped, each pattern trimmed and cleaned."""
    patterns = []
    for number, line in enumerate(text.splitlines()):
        if number == 0:
            line = line.removeprefix("\ufeff")
        if line.startswith("#"):
            continue
        pattern = line.strip()
        if not pattern:
            continue
        invert = pattern.startswith("!")
        if invert:
            pattern = pattern[1:].strip()
        if pattern:
            pattern = _go_clean(pattern)
            if len(pattern) > 1 and pattern.startswith("/"):
                pattern = pattern[1:]
        patterns.append("!" + pattern if invert else pattern)
    return patterns


_ESCAPED = set(".+()|{}$")  # shouldEscape: regexp metacharacters with no meaning in a path pattern


@dataclass(frozen=True)
class _Pattern:
    text: str  # cleaned, without the leading "!"
    exclusion: bool
    kind: str  # exact | prefix | suffix | regexp
    regexp: re.Pattern[str] | None  # set when kind is regexp

    @classmethod
    def compile(cls, raw: str) -> _Pattern:
        """patternmatcher.New and Pattern.compile."""
        text = _go_clean(raw.strip())
        exclusion = text.startswith("!")
        if exclusion:
            if len(text) == 1:
                raise ValueError('illegal exclusion pattern: "!"')
            text = text[1:]
        regex, kind, i, n = "^", "exact", 0, len(text)
        iteration = 0
        while i < n:
            ch = text[i]
            i += 1
            if ch == "*":
                if i < n and text[i] == "*":
                    i += 1
                    if i < n and text[i] == "/":  # "**/" is "**"
                        i += 1
                    if i == n:  # "**" at the end accepts everything below
                        if kind == "exact":
                            kind = "prefix"
                        else:
                            regex += ".*"
                            kind = "regexp"
                    else:
                        regex += "(.*/)?"
                        kind = "regexp"
                    if iteration == 0:
                        kind = "suffix"
                else:
                    regex += "[^/]*"
                    kind = "regexp"
            elif ch == "?":
                regex += "[^/]"
                kind = "regexp"
            elif ch in _ESCAPED:
                regex += "\\" + ch
            elif ch == "\\":
                if i < n:
                    regex += "\\" + text[i]
                    i += 1
                    kind = "regexp"
                else:
                    regex += "\\\\"
            elif ch in "[]":
                regex += ch
                kind = "regexp"
            else:
                regex += ch
            iteration += 1
        compiled = None
        if kind == "regexp":
            try:
                compiled = re.compile(regex + r"\Z")
            except re.error as error:
                raise ValueError(f"bad .dockerignore pattern {raw!r}: {error}") from error
        return cls(text, exclusion, kind, compiled)

    def match(self, path: str) -> bool:
        if self.kind == "exact":
            return path == self.text
        if self.kind == "prefix":
            return path.startswith(self.text[:-2])
        if self.kind == "suffix":
            suffix = self.text[2:]
            return path.endswith(suffix) or (suffix.startswith("/") and path == suffix[1:])
        assert self.regexp is not None, self.kind
        return bool(self.regexp.match(path))


class IgnoreMatcher:
    """Which paths of a build context `.dockerignore` patterns exclude (the last matching pattern wins)."""

    def __init__(self, patterns: list[str]):
        self.patterns = [_Pattern.compile(p) for p in patterns if p.strip()]

    def excludes(self, path: str) -> bool:
        """MatchesOrParentMatches: a pattern matches the path or one of its parent directories."""
        matched = False
        parent = _go_dir(path)
        parents = parent.split("/")
        for pattern in self.patterns:
            if pattern.exclusion != matched:
                continue  # an inclusion once matched, or an exclusion not yet matched: nothing changes
            match = pattern.match(path)
            if not match and parent != ".":
                match = any(pattern.match("/".join(parents[: i + 1])) for i in range(len(parents)))
            if match:
                matched = not pattern.exclusion
        return matched


def context_files(context: Path) -> list[str]:
    """The files Docker sends from `context` (slash paths relative to it, sorted)."""
    ignore = context / ".dockerignore"
    matcher = IgnoreMatcher(read_ignore_file(ignore.read_text()) if ignore.is_file() else [])
    files = []
    for folder, _, names in os.walk(context):
        for name in names:
            relative = (Path(folder) / name).relative_to(context).as_posix()
            if not matcher.excludes(relative):
                files.append(relative)
    return sorted(files)


def content_tag(context: Path, dockerfile: Path, recipe: str) -> str:
    """`content-<hex>`: a digest of the context's files (path, mode, content), the Dockerfile and
    `recipe` (the build settings: a changed setting makes the provider build and push again)."""
    digest = hashlib.sha256()
    for relative in context_files(context):
        path = context / relative
        mode = path.lstat().st_mode  # the provider hashes the mode too (a chmod +x rebuilds)
        content = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else ""
        digest.update(f"file\0{relative}\0{mode:o}\0{content}\0".encode())
    digest.update(b"dockerfile\0" + hashlib.sha256(dockerfile.read_bytes()).hexdigest().encode() + b"\0")
    digest.update(b"recipe\0" + recipe.encode())
    return CONTENT_TAG_PREFIX + digest.hexdigest()[:CONTENT_TAG_HEX]
