"""`appliance-update`: the field technician's and the vendor's commands (docs/updater.md)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import datetime
from pathlib import Path

from appliance_updater import keys
from appliance_updater.bundle import BundleReader, build_bundle, sign_bundle
from appliance_updater.canary import DEFAULT_CANARY_COMMAND, canary_from_config
from appliance_updater.errors import UpdateError, UsageError
from appliance_updater.install import DEFAULT_ABI, DEFAULT_PRODUCT, Updater
from appliance_updater.manifest import parse_manifest, parse_time
from appliance_updater.trust import Root

ENV_STATE = "APPLIANCE_UPDATER_STATE_DIR"
ENV_MODELS = "APPLIANCE_MODELS_ROOT"


def _out(text: str) -> None:
    print(text, flush=True)


def _updater(args: argparse.Namespace) -> Updater:
    state = args.state_dir or os.environ.get(ENV_STATE)
    models = args.models_root or os.environ.get(ENV_MODELS)
    if not state or not models:
        raise UsageError(f"give --state-dir and --models-root (or set {ENV_STATE} and {ENV_MODELS})")
    return Updater(Path(state), Path(models))


def _now(args: argparse.Namespace) -> datetime | None:
    return parse_time(args.now, "--now") if getattr(args, "now", None) else None


class _Progress:
    def __init__(self, total: int, enabled: bool) -> None:
        self.total, self.done, self.enabled, self._last = max(total, 1), 0, enabled, -1

    def __call__(self, n: int) -> None:
        self.done += n
        pct = self.done * 100 // self.total
        if self.enabled and pct != self._last:
            self._last = pct
            bar = "#" * (pct // 5)
            print(f"\r[{bar:<20}] {pct:3d}%", end="", file=sys.stderr, flush=True)
            if self.done >= self.total:
                print(file=sys.stderr)


# Vendor side ------------------------------------------------------------------------------------


def cmd_keygen(args: argparse.Namespace) -> int:
    key = keys.generate()
    private, public = keys.save_keypair(key, Path(args.out))
    _out(f"key {key.keyid}: private {private} (keep offline), public {public}")
    return 0


def cmd_root_create(args: argparse.Namespace) -> int:
    try:
        root = Root.create([keys.load_public(Path(p)) for p in args.pub], args.threshold, args.version)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    Path(args.out).write_text(json.dumps(root.to_json(), indent=2) + "\n")
    _out(f"root version {root.version}: {len(root.keys)} keys, threshold {root.threshold}, unsigned: {args.out}")
    return 0


def cmd_root_sign(args: argparse.Namespace) -> int:
    path = Path(args.root)
    root = Root.from_bytes(path.read_bytes(), str(path)).sign(keys.load_private(Path(args.key)))
    path.write_text(json.dumps(root.to_json(), indent=2) + "\n")
    _out(f"root version {root.version}: {len(root.signatures)} signature(s)")
    return 0


def cmd_build(args: argparse.Namespace) -> int:
    migrations = []
    for spec in args.migrate or []:
        parts = spec.split(":", 3)
        if len(parts) != 4:
            raise UsageError(f"--migrate {spec!r}: expected MODEL:FROM_SPACE:TO_SPACE:METHOD")
        migrations.append(dict(zip(("model", "from_space", "to_space", "method"), parts, strict=True)))
    manifest = build_bundle(
        Path(args.models),
        Path(args.out),
        bundle_id=args.id,
        bundle_version=args.version,
        product=args.product,
        runtime_abi=args.abi,
        issued_at=parse_time(args.issued_at, "--issued-at") if args.issued_at else None,
        expires_at=parse_time(args.expires_at, "--expires-at") if args.expires_at else None,
        migrations=migrations,
        downgrades=[{"model": m, "version": v} for m, _, v in (d.partition("==") for d in args.allow_downgrade or [])],
        canaries=_canaries(args.canary or []),
    )
    names = ", ".join(f"{m.name} {m.version}" for m in manifest.models)
    _out(f"bundle {manifest.bundle_id} version {manifest.bundle_version} ({names}): {args.out}, unsigned")
    return 0


def _canaries(specs: list[str]) -> dict[str, list[dict]]:
    """`--canary MODEL=FILE.json` (a canary object, e.g. from `appliance models canary-make`) per model."""
    out: dict[str, list[dict]] = {}
    for spec in specs:
        model, sep, file = spec.partition("=")
        if not sep or not model or not file:
            raise UsageError(f"--canary {spec!r}: expected MODEL=FILE.json")
        try:
            canary = json.loads(Path(file).read_bytes())
        except ValueError as exc:
            raise UsageError(f"--canary {spec!r}: {file} is not JSON: {exc}") from None
        for c in canary if isinstance(canary, list) else [canary]:
            if not isinstance(c, dict):
                raise UsageError(f"--canary {spec!r}: {file} must hold a canary object or a list of them")
            out.setdefault(model, []).append(c)
    return out


def cmd_sign(args: argparse.Namespace) -> int:
    key = keys.load_private(Path(args.key))
    count = sign_bundle(Path(args.bundle), key)
    _out(f"signed by {key.keyid[:16]}; the bundle has {count} signature(s)")
    return 0


def cmd_inspect(args: argparse.Namespace) -> int:
    with BundleReader(Path(args.bundle)) as reader:
        raw, sigs = reader.read_head()
    manifest = parse_manifest(raw)
    _out(f"bundle {manifest.bundle_id} version {manifest.bundle_version} (UNVERIFIED: inspect checks no signature)")
    for m in manifest.models:
        _out(f"  {m.name} {m.version} {m.task} {m.runtime} {sum(f.size for f in m.files)} bytes")
    _out(
        f"  signatures from: {', '.join(str(s.get('keyid', '?'))[:16] for s in sigs if isinstance(s, dict)) or 'none'}"
    )
    return 0


# Appliance side ---------------------------------------------------------------------------------


def cmd_init(args: argparse.Namespace) -> int:
    with _updater(args) as up:
        root = up.init(Path(args.root), args.product, args.abi or [DEFAULT_ABI])
    _out(f"trusting root version {root.version}: {len(root.keys)} keys, threshold {root.threshold}")
    return 0


def cmd_rotate_root(args: argparse.Namespace) -> int:
    with _updater(args) as up:
        root = up.rotate_root(Path(args.root))
    _out(f"root rotated to version {root.version}: {len(root.keys)} keys, threshold {root.threshold}")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    with _updater(args) as up:
        manifest, signers = up.verify(Path(args.bundle), _now(args))
    _out(
        f"bundle {manifest.bundle_id} version {manifest.bundle_version} is genuine and installable "
        f"(signed by {len(signers)} trusted key(s))"
    )
    return 0


def cmd_install(args: argparse.Namespace) -> int:
    size = Path(args.bundle).stat().st_size if Path(args.bundle).exists() else 0
    progress = _Progress(size, sys.stderr.isatty() and not args.quiet)
    with _updater(args) as up:
        up.canary = canary_from_config(up.state_dir, args.canary_command, args.no_canary)
        outcome = up.install(Path(args.bundle), _now(args), progress)
    if outcome.already_installed:
        _out(f"bundle {outcome.bundle_id} version {outcome.bundle_version} is already installed; nothing to do")
        return 0
    _out(f"installed bundle {outcome.bundle_id} version {outcome.bundle_version}")
    for name, version in outcome.new.items():
        _out(f"  {name}: {outcome.old.get(name) or '-'} -> {version}")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    with _updater(args) as up:
        recovered = up.recover()
        root, state = up.root(), up.load_state()
        models = up.active_models()
    if recovered:
        _out(f"an interrupted switch was {recovered}")
    _out(f"root version {root.version}: {len(root.keys)} keys, threshold {root.threshold}")
    bundle = state.bundle
    _out("bundle: " + (f"{bundle.id} version {bundle.version}" if bundle else "none installed"))
    if state.last is not None and state.last.rolled_back:
        _out(f"the last install ({state.last.bundle_id}) was rolled back")
    for name, version in models.items():
        _out(f"  {name}: {version or '(none active)'}")
    return 0


def cmd_recover(args: argparse.Namespace) -> int:
    with _updater(args) as up:
        outcome = up.recover()
    _out(f"an interrupted switch was {outcome}" if outcome else "nothing to recover")
    return 0


def cmd_rollback(args: argparse.Namespace) -> int:
    with _updater(args) as up:
        active = up.rollback()
    for name, version in active.items():
        _out(f"  {name}: {version or '(none active)'}")
    _out("rolled back")
    return 0


def cmd_activate(args: argparse.Namespace) -> int:
    with _updater(args) as up:
        old = up.activate(args.model, args.version)
    if old == args.version:
        _out(f"{args.model}: {args.version} is the active version already")
    else:
        _out(f"{args.model}: active version {args.version} (was {old or 'none'})")
    return 0


def cmd_history(args: argparse.Namespace) -> int:
    with _updater(args) as up:
        events = up.history()
    for event in events[-args.last :] if args.last else events:
        _out(json.dumps(event, sort_keys=True))
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="appliance-update", description="Signed offline model updates (docs/updater.md).")
    sub = p.add_subparsers(dest="command", required=True)

    def appliance(name: str, help: str) -> argparse.ArgumentParser:
        s = sub.add_parser(name, help=help)
        s.add_argument("--state-dir", help=f"the updater's state directory (or ${ENV_STATE})")
        s.add_argument("--models-root", help=f"the model store (or ${ENV_MODELS})")
        return s

    s = sub.add_parser("keygen", help="make an Ed25519 signing key: OUT.key and OUT.pub")
    s.add_argument("--out", required=True)
    s.set_defaults(func=cmd_keygen)
    s = sub.add_parser("root-create", help="make an unsigned root file from public keys")
    s.add_argument("--pub", action="append", required=True)
    s.add_argument("--threshold", type=int, required=True)
    s.add_argument("--version", type=int, default=1)
    s.add_argument("--out", required=True)
    s.set_defaults(func=cmd_root_create)
    s = sub.add_parser("root-sign", help="add a signature to a root file")
    s.add_argument("root")
    s.add_argument("--key", required=True)
    s.set_defaults(func=cmd_root_sign)
    s = sub.add_parser("build", help="build an unsigned bundle from a directory <name>/<version>/card.json + files")
    s.add_argument("models")
    s.add_argument("--out", required=True)
    s.add_argument("--id", required=True)
    s.add_argument("--version", type=int, required=True, help="bundle version, an integer that only grows")
    s.add_argument("--product", default=DEFAULT_PRODUCT)
    s.add_argument("--abi", default=DEFAULT_ABI)
    s.add_argument("--issued-at")
    s.add_argument("--expires-at")
    s.add_argument("--migrate", action="append", metavar="MODEL:FROM:TO:METHOD")
    s.add_argument("--allow-downgrade", action="append", metavar="MODEL==VERSION", help="authorise a downgrade")
    s.add_argument(
        "--canary", action="append", metavar="MODEL=FILE.json", help="embed a canary (appliance models canary-make)"
    )
    s.set_defaults(func=cmd_build)
    s = sub.add_parser("sign", help="add a signature to a bundle")
    s.add_argument("bundle")
    s.add_argument("--key", required=True)
    s.set_defaults(func=cmd_sign)
    s = sub.add_parser("inspect", help="show a bundle's manifest without verifying it")
    s.add_argument("bundle")
    s.set_defaults(func=cmd_inspect)

    s = appliance("init", "trust a first root file (provisioning)")
    s.add_argument("--root", required=True)
    s.add_argument("--product", default=DEFAULT_PRODUCT)
    s.add_argument("--abi", action="append")
    s.set_defaults(func=cmd_init)
    s = appliance("rotate-root", "replace the root by its signed successor")
    s.add_argument("root")
    s.set_defaults(func=cmd_rotate_root)
    for name, func, help in (
        ("verify", cmd_verify, "check a bundle completely without installing it"),
        ("install", cmd_install, "verify and install a bundle"),
    ):
        s = appliance(name, help)
        s.add_argument("bundle")
        s.add_argument("--now", help=argparse.SUPPRESS)
        if name == "install":
            s.add_argument("--quiet", action="store_true", help="no progress bar")
            s.add_argument(
                "--canary-command",
                help=f"run before and after the switch with --root DIR --manifest FILE appended; '' turns it off "
                f"(default: canary_command in <state_dir>/config.json, else {DEFAULT_CANARY_COMMAND!r})",
            )
            s.add_argument("--no-canary", action="store_true", help="install without canaries or health check")
        s.set_defaults(func=func)
    appliance("status", "show trust, the installed bundle and the active models").set_defaults(func=cmd_status)
    appliance("recover", "finish a switch interrupted by a crash").set_defaults(func=cmd_recover)
    appliance("rollback", "switch back to the versions before the last install").set_defaults(func=cmd_rollback)
    s = appliance("activate", "make an installed version of one model its active version (journalled)")
    s.add_argument("model")
    s.add_argument("version")
    s.set_defaults(func=cmd_activate)
    s = appliance("history", "print the history, one JSON line per event")
    s.add_argument("--last", type=int, default=0)
    s.set_defaults(func=cmd_history)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except UpdateError as exc:
        print(
            f"appliance-update: refused: {exc}" if exc.exit_code in (3, 4, 7) else f"appliance-update: {exc}",
            file=sys.stderr,
        )
        return exc.exit_code
    except FileNotFoundError as exc:
        print(f"appliance-update: {exc}", file=sys.stderr)
        return UsageError.exit_code
    except OSError as exc:
        print(f"appliance-update: {exc}", file=sys.stderr)
        return 5
