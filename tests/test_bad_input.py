"""A catalogue of bad input, run through the command line as a user would: every entry must end
with its documented exit status (2: usage, input or build error) and a message that says what is
wrong and, where there is source, where (file:line:col, the line itself) — never a traceback,
and never a half-written output.

Entries run `fusion.cli.main` in this process (what `python -m fusion` runs); a few at the end
run the real command in a subprocess, for what only a process shows (a closed pipe, the exit
status of the interpreter)."""
import os
import subprocess
import sys

import pytest

from fusion.cli import main

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KERNELS = os.path.join(ROOT, "fusion", "ops", "kernels")
GOOD = "__kernel void k(__global float *o)\n{\n    o[get_global_id(0)] = 1.0f;\n}\n"
SHAPED = ("__kernel void s(__global float *o, const int n, const int2 size, const float f)\n{\n"
          "    if (get_global_id(0) < n) o[get_global_id(0)] = f * size.x;\n}\n")
SCALE_LAUNCH = "64 buffer:float:64:output"


def nested(depth):
    return ("__kernel void k(__global float *o)\n{\n    o[0] = " + "(" * depth + "o[1] + 1.0f"
            + ")" * depth + ";\n}\n")


# name: (files {name: text or bytes}, argv ({dir} is the directory of the files),
#        exit status, fragments the error output must hold ("@L:C" checks the location and that
#        the source line follows it))
CATALOGUE = {
    # --- source errors, through generate ---------------------------------------------------
    "syntax error": ({"bad.cl": "__kernel void k(__global float *o)\n{\n    o[0] = 1\n}\n"},
                     ["generate", "-k", "{dir}/bad.cl:k"], 2, ["@4:1", "syntax error before: }"]),
    "invalid expression": ({"bad.cl": "__kernel void k(__global float *o)\n{\n    o[0] = 1 + * ;\n}\n"},
                           ["generate", "-k", "{dir}/bad.cl:k"], 2, ["@3:18", "Invalid expression"]),
    "error directive": ({"bad.cl": "#error SIZE must be set\n" + GOOD},
                        ["generate", "-k", "{dir}/bad.cl:k"], 2,
                        ["@1:1", "#error SIZE must be set"]),
    "missing include": ({"bad.cl": '#include "gone.h"\n' + GOOD},
                        ["generate", "-k", "{dir}/bad.cl:k"], 2,
                        ["@1:1", "Include file 'gone.h' not found"]),
    "bare #if": ({"bad.cl": "#if\n#endif\n" + GOOD}, ["generate", "-k", "{dir}/bad.cl:k"], 2,
                 ["@1:1", "malformed directive"]),
    "unknown kernel": ({"k.cl": GOOD}, ["generate", "-k", "{dir}/k.cl:nope"], 2,
                       ["no kernel named 'nope' (kernels found: k)"]),
    "unsupported builtin": (
        {"bad.cl": "__kernel void k(__global int *o)\n{\n    o[0] = get_sub_group_id();\n}\n"},
        ["generate", "-k", "{dir}/bad.cl:k"], 2,
        ["@3:12", "'get_sub_group_id' is not supported in a fused kernel"]),
    "recursion": ({"bad.cl": "int f(int x) { return x ? f(x - 1) : 0; }\n"
                             "__kernel void k(__global int *o) { o[0] = f(3); }\n"},
                  ["generate", "-k", "{dir}/bad.cl:k"], 2,
                  ["@1:27", "recursive call to 'f'"]),
    "kernel calls a kernel": (
        {"bad.cl": "__kernel void inner(__global float *o) { o[0] = 1.0f; }\n"
                   "__kernel void k(__global float *o)\n{\n    inner(o);\n}\n"},
        ["generate", "-k", "{dir}/bad.cl:k"], 2, ["@4:5", "calls the kernel 'inner'"]),
    "reserved prefix": ({"bad.cl": "__kernel void k(__global float *pf_o)\n{\n    pf_o[0] = 0.0f;\n}\n"},
                        ["generate", "-k", "{dir}/bad.cl:k"], 2,
                        ["@1:32", "the prefix 'pf_' reserved for fused code"]),
    "program flags differ": (
        {"a.cl": GOOD, "b.cl": GOOD.replace("void k", "void b")},
        ["generate", "-k", "{dir}/a.cl:k", "-k", "{dir}/b.cl:b:-cl-fast-relaxed-math"], 2,
        ["@1:15", "different program-wide options (none vs -cl-fast-relaxed-math)"]),
    "local object with initializer": (
        {"bad.cl": "__kernel void k(__global float *o)\n{\n    __local float t = 1.0f;\n"
                   "    o[0] = t;\n}\n"},
        ["generate", "-k", "{dir}/bad.cl:k"], 2, ["@3:19", "has an initializer"]),
    "attribute after a union": (
        {"bad.cl": "typedef union { int i; float f; } __attribute__((aligned(16))) U;\n"
                   "__kernel void k(__global float *o) { U u; u.i = 1; o[0] = u.f; }\n"},
        ["generate", "-k", "{dir}/bad.cl:k"], 2, ["@1:", "attribute"]),
    "attribute among typedef specifiers": (
        {"bad.cl": "typedef __attribute__((aligned(8))) int A;\n"
                   "__kernel void k(__global int *o) { A a = 1; o[0] = a; }\n"},
        ["generate", "-k", "{dir}/bad.cl:k"], 2, ["@1:", "attribute"]),
    "nesting too deep": ({"bad.cl": nested(300_000)}, ["generate", "-k", "{dir}/bad.cl:k"], 2,
                         ["@1:15", "nests expressions or statements more deeply than the "
                          "compiler follows"]),
    "error in a macro expansion": (
        {"bad.cl": "#define STORE(i) o[i] = 1 + * ;\n__kernel void k(__global float *o)\n{\n"
                   "    STORE(0)\n}\n"},
        ["generate", "-k", "{dir}/bad.cl:k"], 2, ["@4:", "in a macro expansion"]),
    "not UTF-8": ({"bad.cl": b"__kernel void k(__global float *o)\n{\n    o[0] = 1.0f; // \xe9t\xe9\n}\n"},
                  ["generate", "-k", "{dir}/bad.cl:k"], 2, ["bad.cl:3:21", "not UTF-8 text (byte 0xe9)"]),
    "missing file": ({}, ["generate", "-k", "{dir}/gone.cl:k"], 2,
                     ["gone.cl: cannot read it (No such file or directory)"]),
    "a directory as the kernel file": ({}, ["generate", "-k", "{dir}:k"], 2, ["cannot read it"]),
    # --- command-line arguments --------------------------------------------------------------
    "kernel spec without a name": ({"k.cl": GOOD}, ["generate", "-k", "{dir}/k.cl"], 2,
                                   ["FILE:NAME[:OPTIONS]"]),
    "no kernel at all": ({}, ["generate"], 2, ["-k/--kernel"]),
    "name with a space": ({"k.cl": GOOD}, ["generate", "-k", "{dir}/k.cl:k", "--name", "my kernel"],
                          2, ["'my kernel' is not an OpenCL C identifier"]),
    "name with the reserved prefix": ({"k.cl": GOOD},
                                      ["generate", "-k", "{dir}/k.cl:k", "--name", "pf_fused"], 2,
                                      ["names starting with 'pf_'"]),
    "negative wave size": ({"k.cl": GOOD}, ["generate", "-k", "{dir}/k.cl:k", "--wave-size", "-3"],
                           2, ["--wave-size", "must be at least 1, not -3"]),
    "wave size not a number": ({"k.cl": GOOD},
                               ["generate", "-k", "{dir}/k.cl:k", "--wave-size", "wide"], 2,
                               ["'wide' is not an integer"]),
    "unknown layout": ({"k.cl": GOOD}, ["generate", "-k", "{dir}/k.cl:k", "--layout", "diagonal"],
                       2, ["invalid choice: 'diagonal'"]),
    "unknown command": ({}, ["fuse-everything"], 2, ["invalid choice: 'fuse-everything'"]),
    "bake without a value": ({"s.cl": SHAPED}, ["generate", "-k", "{dir}/s.cl:s", "--bake", "0:n"],
                             2, ["'0:n': expected INDEX:NAME=VALUE"]),
    "bake a fraction": ({"s.cl": SHAPED}, ["generate", "-k", "{dir}/s.cl:s", "--bake", "0:n=1.5"],
                        2, ["'0:n=1.5': expected INDEX:NAME=VALUE"]),
    "bake a kernel not given": ({"s.cl": SHAPED},
                                ["generate", "-k", "{dir}/s.cl:s", "--bake", "1:n=4"], 2,
                                ["--bake 1:n: there are 1 kernels (positions 0-0)"]),
    "bake a parameter not there": ({"s.cl": SHAPED},
                                   ["generate", "-k", "{dir}/s.cl:s", "--bake", "0:m=4"], 2,
                                   ["@1:15", "kernel 's' has no parameter 'm'"]),
    "bake a float": ({"s.cl": SHAPED}, ["generate", "-k", "{dir}/s.cl:s", "--bake", "0:f=4"], 2,
                     ["@1:78", "parameter 'f' (const float) cannot be baked in"]),
    "bake too large a value": ({"s.cl": SHAPED},
                               ["generate", "-k", "{dir}/s.cl:s", "--bake", "0:n=4294967296"], 2,
                               ["@1:46", "4294967296 does not fit parameter 'n' (const int)"]),
    "bake a vector's lanes short": ({"s.cl": SHAPED},
                                    ["generate", "-k", "{dir}/s.cl:s", "--bake", "0:size=3"], 2,
                                    ["@1:60", "parameter 'size' (const int2) takes 2 values"]),
    "bake twice": ({"s.cl": SHAPED}, ["generate", "-k", "{dir}/s.cl:s", "--bake", "0:n=4",
                                      "--bake", "0:n=5"], 2, ["--bake 0:n is given twice"]),
    # --- outputs -----------------------------------------------------------------------------
    "output named like its manifest": ({"k.cl": GOOD},
                                       ["generate", "-k", "{dir}/k.cl:k", "-o", "{dir}/out.json"],
                                       2, ["are the same file"]),
    "manifest over the input": ({"k.cl": GOOD}, ["generate", "-k", "{dir}/k.cl:k", "-o",
                                                 "{dir}/fused.cl", "--manifest", "{dir}/k.cl"],
                                2, ["is the input", "it would be overwritten"]),
    "output over the input": ({"k.cl": GOOD}, ["generate", "-k", "{dir}/k.cl:k", "-o", "{dir}/k.cl"],
                              2, ["is the input"]),
    "output under a file": ({"k.cl": GOOD, "plain": "a file"},
                            ["generate", "-k", "{dir}/k.cl:k", "-o", "{dir}/plain/fused.cl"], 2,
                            ["cannot write"]),
    "run: an error after the output was checked leaves no file": (
        {}, ["run", "squeezenet_v1", "--policy", "all", "--adapt", "3", "--json",
             "{dir}/out.json"], 2, ["needs the auto policy"]),
    "run: JSON under a file": ({"plain": "a file"},
                               ["run", "squeezenet_v1", "--json", "{dir}/plain/out.json"], 2,
                               ["cannot write"]),
    # --- prepare -----------------------------------------------------------------------------
    "prepare: unknown kernel": ({"k.cl": GOOD}, ["prepare", "-k", "{dir}/k.cl:k", "-k",
                                                 "{dir}/k.cl:nope", "-o", "{dir}/out"], 2,
                                ["no kernel named 'nope'"]),
    "prepare: syntax error": ({"k.cl": GOOD, "bad.cl": "__kernel void b(__global float *o) { o[0] = }\n"},
                              ["prepare", "-k", "{dir}/k.cl:k", "-k", "{dir}/bad.cl:b", "-o",
                               "{dir}/out"], 2, ["@1:"]),
    "prepare: size 0": ({"k.cl": GOOD}, ["prepare", "-k", "{dir}/k.cl:k", "-o", "{dir}/out",
                                         "--sizes", "0,2"], 2, ["--sizes", "at least 1"]),
    "prepare: size not a number": ({"k.cl": GOOD}, ["prepare", "-k", "{dir}/k.cl:k", "-o",
                                                    "{dir}/out", "--sizes", "two"], 2,
                                   ["--sizes", "'two' is not an integer"]),
    "prepare: output is a file": ({"k.cl": GOOD, "plain": "a file"},
                                  ["prepare", "-k", "{dir}/k.cl:k", "-k", "{dir}/k.cl:k",
                                   "--with-repeats", "-o", "{dir}/plain"], 2, ["cannot write"]),
    # --- check -------------------------------------------------------------------------------
    "check: no runs": ({"k.cl": GOOD}, ["check", "-k", "{dir}/k.cl:k", "--launch", SCALE_LAUNCH,
                                        "--runs", "0"], 2, ["--runs", "must be at least 1, not 0"]),
    "check: no kernels": ({}, ["check"], 2, ["no kernels"]),
    "check: launches missing": ({"k.cl": GOOD}, ["check", "-k", "{dir}/k.cl:k", "-k", "{dir}/k.cl:k",
                                                 "--launch", SCALE_LAUNCH], 2,
                                ["2 kernels (-k) but 1 launches"]),
    "check: unknown argument kind": ({"k.cl": GOOD}, ["check", "-k", "{dir}/k.cl:k", "--launch",
                                                      "64 pointer:7"], 2, ["unknown OpenCL type 'pointer'"]),
    "check: unknown buffer type": ({"k.cl": GOOD}, ["check", "-k", "{dir}/k.cl:k", "--launch",
                                                    "64 buffer:quaternion:64:output"], 2,
                                   ["quaternion"]),
    "check: global size not a number": ({"k.cl": GOOD}, ["check", "-k", "{dir}/k.cl:k", "--launch",
                                                         "lots buffer:float:64:output"], 2,
                                        ["global size"]),
    "check: too many arguments": ({"k.cl": GOOD}, ["check", "-k", "{dir}/k.cl:k", "--launch",
                                                   "64 buffer:float:64:output int:3"], 2,
                                  ["kernel 'k' takes 1 arguments, the launch gave 2"]),
    "check: spec and kernels": ({"k.cl": GOOD, "s.json": "{}"},
                                ["check", "--spec", "{dir}/s.json", "-k", "{dir}/k.cl:k"], 2,
                                ["either --spec or -k/--launch"]),
    "check: spec missing": ({}, ["check", "--spec", "{dir}/gone.json"], 2, ["gone.json"]),
    "check: spec not JSON": ({"s.json": '{"kernels": [\n  {"file": "k.cl",}\n]}'},
                             ["check", "--spec", "{dir}/s.json"], 2, ["s.json", "line 2"]),
    "check: spec without a field": ({"k.cl": GOOD, "s.json": '{"kernels": [{"file": "k.cl"}]}'},
                                    ["check", "--spec", "{dir}/s.json"], 2, ["name"]),
    "check: kernel does not compile": (
        {"bad.cl": "__kernel void k(__global float *o)\n{\n    o[0] = undefined_function(1.0f);\n}\n"},
        ["check", "-k", "{dir}/bad.cl:k", "--launch", "1 buffer:float:1:output"], 2,
        ["undefined_function"]),
    "check: no such device": ({"k.cl": GOOD}, ["check", "-k", "{dir}/k.cl:k", "--launch",
                                               SCALE_LAUNCH, "--device", "abacus"], 2,
                              ["abacus"]),
    # --- models ------------------------------------------------------------------------------
    "models: unknown model": ({}, ["models", "--operators", "alexnet"], 2, ["alexnet"]),
}


def _materialise(files, directory):
    for name, text in files.items():
        path = directory / name
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text)


def _run_main(argv, capsys):
    try:
        status = main(argv)
    except SystemExit as exit_:  # argparse's usage errors
        status = exit_.code
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_the_catalogue_is_large():
    assert len(CATALOGUE) >= 40


@pytest.mark.parametrize("name", list(CATALOGUE))
def test_bad_input(name, tmp_path, capsys):
    files, argv, expected_status, fragments = CATALOGUE[name]
    _materialise(files, tmp_path)
    before = sorted(os.listdir(tmp_path))
    contents = {f: (tmp_path / f).read_bytes() for f in before if (tmp_path / f).is_file()}
    status, out, err = _run_main([a.replace("{dir}", str(tmp_path)) for a in argv], capsys)
    report = f"exit {status}\nstdout: {out}\nstderr: {err}"
    assert status == expected_status, report
    assert "Traceback" not in err + out, report
    assert "internal error" not in err, report
    for fragment in fragments:
        if fragment.startswith("@"):
            located = [line for line in err.splitlines() if f":{fragment[1:]}" in line]
            assert located, f"no location {fragment[1:]} in:\n{report}"
            lines = err.splitlines()
            following = lines[lines.index(located[0]) + 1] if located[0] != lines[-1] else ""
            assert following.startswith("    "), f"no source line after the location:\n{report}"
        else:
            assert fragment in err, f"{fragment!r} not in:\n{report}"
    # nothing written, nothing overwritten
    assert sorted(os.listdir(tmp_path)) == before, report
    for f, data in contents.items():
        assert (tmp_path / f).read_bytes() == data, f"{f} was changed"


def test_an_internal_error_is_reported_as_a_bug_without_a_traceback(tmp_path, capsys,
                                                                   monkeypatch):
    import fusion.cli

    def broken(*args, **kwargs):
        raise ValueError("planted")
    monkeypatch.setattr(fusion.cli, "generate", broken)
    (tmp_path / "k.cl").write_text(GOOD)
    status, _, err = _run_main(["generate", "-k", f"{tmp_path}/k.cl:k"], capsys)
    assert status == 3
    assert err == ("internal error (a bug of parallel-fusion; please report it): "
                   "ValueError: planted\n")


def test_a_closed_pipe_ends_quietly():
    """`python -m fusion models --operators inception_v3 | head -1`."""
    process = subprocess.Popen([sys.executable, "-m", "fusion", "models", "--operators",
                                "inception_v3"], cwd=ROOT, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)
    process.stdout.readline()
    process.stdout.close()
    err = process.stderr.read().decode()
    assert process.wait(timeout=60) == 0, err
    assert err == ""


def test_a_crashing_device_is_an_error_not_a_crash(tmp_path):
    """check runs the devices in a child process: a kernel that writes far out of bounds kills
    the child (on the CPU devices), and the command says so with status 2."""
    source = tmp_path / "wild.cl"
    source.write_text("__kernel void wild(__global float *o)\n{\n"
                      "    o[get_global_id(0) * 400000000ul] = 1.0f;\n}\n")
    done = subprocess.run([sys.executable, "-m", "fusion", "check", "-k", f"{source}:wild",
                           "--launch", "64 buffer:float:64:output"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "error: the process running the check was killed by SIG" in done.stderr
    assert "Traceback" not in done.stderr


def test_paths_are_the_callers(tmp_path):
    """`tasks.py run generate -k k.cl:k` reads k.cl where the user is, not in the checkout."""
    (tmp_path / "k.cl").write_text(GOOD)
    done = subprocess.run([sys.executable, os.path.join(ROOT, "tasks.py"), "run", "generate",
                           "-k", "k.cl:k", "-o", "fused.cl"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "fused.cl").exists() and (tmp_path / "fused.json").exists()
