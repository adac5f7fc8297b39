#!/usr/bin/env python3
# sigv4_diff.py: signs generated requests with txpipe's signer and with botocore's SigV4Auth; every part must match.
#
# botocore (python3-botocore in Debian) is an implementation of SigV4
# written independently of ours, used by the AWS CLI for every call, so
# agreement on a few hundred varied requests is strong evidence that the
# canonical request, the string to sign and the signature are right beyond
# the handful of published vectors.  The requests are generated from a
# fixed seed: a failure is reproducible and names the request.
#
# Like is compared with like.  Our default flags (path normalized, then
# encoded a second time, as every service but S3 wants) against SigV4Auth;
# TXP_SIGV4_SIGN_BODY | TXP_SIGV4_SINGLE_ENCODE_PATH against S3SigV4Auth.
# Left out, because the two disagree by design rather than by mistake:
#   - a path whose last segment is "." or "..": RFC 3986 section 5.2.4 (and
#     we) keep a trailing slash ("/a/." is "/a/"), botocore drops it;
#   - headers botocore never signs (user-agent, expect, ...), and Date,
#     which botocore rewrites: callers choose what we sign;
#   - header values with whitespace other than space and tab, or non-ASCII
#     bytes: botocore's Python str.split() trims Unicode spaces too.
#
# Usage: sigv4_diff.py SIGNER [COUNT [SEED]]
#   SIGNER is tests/unit/sigv4_signer (protocol in sigv4_signer.c).
# Exit status: 0 all equal, 1 a difference (each printed), 2 setup error.

import datetime
import hashlib
import random
import re
import subprocess
import sys
from urllib.parse import quote

try:
    import botocore
    from botocore.auth import SIGNED_HEADERS_BLACKLIST, S3SigV4Auth, SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.compat import HTTPHeaders
    from botocore.credentials import Credentials
except ImportError as e:
    print(f"sigv4_diff: botocore is missing ({e}); install python3-botocore (./quickstart does)", file=sys.stderr)
    sys.exit(2)

# enum txp_sigv4_flags (include/txpipe/aws/sigv4.h)
NORMALIZE_PATH = 1 << 0
SIGN_BODY = 1 << 1
OMIT_SESSION_TOKEN = 1 << 2
SINGLE_ENCODE_PATH = 1 << 3

METHODS = ["GET", "POST", "PUT", "DELETE", "HEAD", "PATCH", "OPTIONS"]
REGIONS = ["us-east-1", "eu-west-1", "ap-southeast-2", "us-gov-west-1", "cn-north-1", "eu-central-2"]
SERVICES = ["dynamodb", "sns", "sqs", "iam", "execute-api", "s3", "logs", "sts"]
HOSTS = ["dynamodb.us-east-1.amazonaws.com", "sqs.eu-west-1.amazonaws.com", "127.0.0.1:4566",
         "localhost:8000", "example.amazonaws.com", "[::1]:9324"]
HEADER_NAMES = ["Content-Type", "X-Amz-Target", "x-amz-meta-Color", "X-AMZ-META-color", "Accept",
                "Content-Length", "My-Header1", "my-header1", "X-Custom_Odd.Name", "x-amz-json-version",
                "If-Match", "X-Forwarded-For", "Cache-Control", "a", "Z~z", "x-amz-acl", "X-API-Key"]
# Segment material: unreserved, reserved (RFC 3986 gen- and sub-delims),
# space, percent, plus and non-ASCII of 2, 3 and 4 UTF-8 bytes.
SEG_CHARS = ("abcXYZ019-._~" + "!$&'()*+,;=:@" + " %+" + "éñ中文😀")
QUERY_CHARS = ("aZ09-._~" + "!$'()*+,;:@/?" + " %" + "é中😀" + "=&#")
VALUE_CHARS = [chr(c) for c in range(0x20, 0x7F)] + ["\t"]


def hexf(b):
    """A protocol field: 'x' + hex, or '-' for None."""
    if b is None:
        return "-"
    if isinstance(b, str):
        b = b.encode("utf-8")
    return "x" + b.hex()


def unhexf(tok):
    if tok == "-":
        return None
    return bytes.fromhex(tok[1:]).decode("utf-8")


def rand_text(rng, chars, lo, hi):
    return "".join(rng.choice(chars) for _ in range(rng.randint(lo, hi)))


def gen_path(rng, s3):
    """The wire path (encoded once) of a request."""
    if not s3 and rng.random() < 0.04:
        return ""
    segs = []
    for _ in range(rng.randint(0, 6)):
        r = rng.random()
        if r < 0.08 and not s3:
            segs.append(".")
        elif r < 0.16 and not s3:
            segs.append("..")
        elif r < 0.24:
            segs.append("")  # "//"
        else:
            segs.append(rand_text(rng, SEG_CHARS, 1, 8))
    wire = []
    for seg in segs:
        if seg in (".", ".."):
            wire.append(seg)
            continue
        # Sub-delims and ':' '@' may travel raw in a path; keep a random
        # subset raw, and encode a few unreserved characters too (both
        # spellings must be signed the same way as botocore does).  That
        # also hits the hex digits of escapes, leaving a stray '%' now and
        # then, which both must pass through as a literal.
        safe = "".join(c for c in "!$&'()*+,;=:@" if rng.random() < 0.5)
        enc = quote(seg, safe=safe)
        if rng.random() < 0.2:
            enc = "".join("%%%02X" % ord(c) if c.isalnum() and c.isascii() and rng.random() < 0.3 else c
                          for c in enc)
        wire.append(enc)
    path = "/" + "/".join(wire)
    if segs and segs[-1] in (".", ".."):
        path += "/"  # see the header comment
    elif rng.random() < 0.3:
        path += "/"
    return path


def encode_query_part(rng, text, is_name):
    """One name or value as it may appear on the wire, in several spellings."""
    r = rng.random()
    raw_ok = "%" not in text and "&" not in text and "#" not in text and not (is_name and "=" in text)
    if raw_ok and r < 0.3:
        return text  # raw: the signer must encode it
    enc = quote(text, safe="")
    if r < 0.5:
        enc = re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), enc)  # lowercase hex digits
    return enc


def gen_query(rng):
    """(wire query or None, [(name, value)] decoded for botocore)."""
    if rng.random() < 0.3:
        return None, []
    params, wire = [], []
    for _ in range(rng.randint(1, 7)):
        if params and rng.random() < 0.25:
            name = rng.choice(params)[0]  # a repeated name
        elif rng.random() < 0.03:
            name = ""
        else:
            name = rand_text(rng, QUERY_CHARS, 1, 6)
        r = rng.random()
        if r < 0.15 and name != "":
            value, part = "", encode_query_part(rng, name, True)  # no '=': an empty value
        elif r < 0.3:
            value, part = "", encode_query_part(rng, name, True) + "="
        else:
            value = rand_text(rng, QUERY_CHARS, 1, 8)
            part = encode_query_part(rng, name, True) + "=" + encode_query_part(rng, value, False)
        params.append((name, value))
        wire.append(part)
        if rng.random() < 0.05:
            wire.append("")  # "&&": an empty parameter is no parameter
    return "&".join(wire), params


def gen_value(rng):
    r = rng.random()
    if r < 0.08:
        return ""
    v = rand_text(rng, VALUE_CHARS, 1, 20)
    if r < 0.4:
        v = rng.choice([" ", "  ", "\t", " \t "]) + v + rng.choice(["", " ", "   ", "\t"])
    if rng.random() < 0.3:
        v = v.replace(" ", rng.choice(["  ", "   ", " \t"]))
    return v


def gen_case(rng, i):
    s3 = rng.random() < 0.2
    method = rng.choice(METHODS)
    path = gen_path(rng, s3)
    query, params = gen_query(rng)
    host = rng.choice(HOSTS)
    headers = [(rng.choice(["Host", "host", "HOST"]), host)]
    names = [n for n in HEADER_NAMES if n.lower() not in SIGNED_HEADERS_BLACKLIST]
    for _ in range(rng.randint(0, 7)):
        if len(headers) > 1 and rng.random() < 0.25:
            name = rng.choice(headers[1:])[0]
            name = "".join(c.upper() if rng.random() < 0.5 else c.lower() for c in name)  # same name, other case
        else:
            name = rng.choice(names)
        headers.append((name, gen_value(rng)))
    rng.shuffle(headers)
    r = rng.random()
    if r < 0.3:
        body = b""
    elif r < 0.6:
        body = rand_text(rng, "abc {}\":,0123456789", 1, 200).encode()
    else:
        body = bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 300)))
    token = None
    if rng.random() < 0.5:
        token = rand_text(rng, "ABCDEFabcdef0123456789+/=", 20, 300)
    flags = SIGN_BODY | SINGLE_ENCODE_PATH if s3 else NORMALIZE_PATH
    payload_hash = None
    if not s3:
        r = rng.random()
        if r < 0.15:
            flags |= SIGN_BODY
        elif r < 0.25:
            flags |= SIGN_BODY
            payload_hash = "UNSIGNED-PAYLOAD"
        elif r < 0.3:
            flags |= SIGN_BODY
            payload_hash = hashlib.sha256(b"elsewhere %d" % i).hexdigest()
        if token is not None and rng.random() < 0.15:
            flags |= OMIT_SESSION_TOKEN
    # 2000-01-01 to 2099-12-31, any second (day boundaries included).
    when = rng.randint(946684800, 4102444799)
    if rng.random() < 0.05:
        when -= when % 86400  # midnight exactly
    akid = "AKID" + rand_text(rng, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 12, 16)
    secret = rand_text(rng, [chr(c) for c in range(0x21, 0x7F)], 30, 50)
    return dict(i=i, s3=s3, method=method, path=path, query=query, params=params, headers=headers,
                body=body, token=token, flags=flags, payload_hash=payload_hash, when=when, akid=akid,
                secret=secret, region=rng.choice(REGIONS), service="s3" if s3 else rng.choice(SERVICES))


def to_protocol(c):
    lines = ["R " + " ".join([
        hexf(c["method"]), hexf(c["path"]), hexf(c["query"]), hexf(c["region"]), hexf(c["service"]),
        hexf(str(c["when"])), hexf(str(c["flags"])), hexf(c["akid"]), hexf(c["secret"]), hexf(c["token"]),
        hexf(c["body"]), hexf(c["payload_hash"])])]
    for n, v in c["headers"]:
        lines.append(f"H {hexf(n)} {hexf(v)}")
    lines.append("E")
    return "\n".join(lines) + "\n"


def botocore_sign(c):
    """Runs SigV4Auth.add_auth's steps with a fixed time (add_auth reads the clock)."""
    omit = bool(c["flags"] & OMIT_SESSION_TOKEN)
    creds = Credentials(c["akid"], c["secret"], None if omit else c["token"])
    auth = (S3SigV4Auth if c["s3"] else SigV4Auth)(creds, c["service"], c["region"])
    host = [v for n, v in c["headers"] if n.lower() == "host"][0]
    req = AWSRequest(method=c["method"], url="http://" + host + c["path"], data=c["body"],
                     params=c["params"] or None)
    req.headers = HTTPHeaders()
    for n, v in c["headers"]:
        req.headers[n] = v  # appends: repeated names stay repeated
    if c["flags"] & SIGN_BODY and not c["s3"]:
        req.headers["X-Amz-Content-SHA256"] = c["payload_hash"] or hashlib.sha256(c["body"]).hexdigest()
    stamp = datetime.datetime.fromtimestamp(c["when"], datetime.timezone.utc)
    req.context["timestamp"] = stamp.strftime("%Y%m%dT%H%M%SZ")
    auth._modify_request_before_signing(req)
    cr = auth.canonical_request(req)
    sts = auth.string_to_sign(req, cr)
    sig = auth.signature(sts, req)
    auth._inject_signature_to_request(req, sig)
    return cr, sts, req.headers


def describe(c):
    return (f"case {c['i']}: {c['method']} path={c['path']!r} query={c['query']!r} s3={c['s3']} "
            f"flags={c['flags']} headers={c['headers']!r} body={len(c['body'])} bytes "
            f"token={'yes' if c['token'] else 'no'} payload_hash={c['payload_hash']!r} "
            f"region={c['region']} service={c['service']} time={c['when']}")


def main():
    if len(sys.argv) < 2:
        print("usage: sigv4_diff.py SIGNER [COUNT [SEED]]", file=sys.stderr)
        return 2
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 400
    seed = int(sys.argv[3]) if len(sys.argv) > 3 else 20260601
    rng = random.Random(seed)
    cases = [gen_case(rng, i) for i in range(count)]
    proc = subprocess.run([sys.argv[1]], input="".join(to_protocol(c) for c in cases).encode(),
                          stdout=subprocess.PIPE, check=False)
    if proc.returncode != 0:
        print(f"sigv4_diff: {sys.argv[1]} exited {proc.returncode}", file=sys.stderr)
        return 2
    out = proc.stdout.decode().splitlines()
    pos, failures, checked = 0, 0, dict(s3=0, token=0, omit=0, unsigned=0, repeated=0, query=0, dots=0)
    for c in cases:
        line = out[pos].split(" ")
        pos += 1
        if line[0] != "OK":
            print(f"FAIL {describe(c)}\n  txpipe refused it: {unhexf(line[1])}")
            failures += 1
            continue
        ours_cr, ours_sts, ours_auth = unhexf(line[1]), unhexf(line[2]), unhexf(line[3])
        added = {}
        while out[pos] != "E":
            _, n, v = out[pos].split(" ")
            added[unhexf(n).lower()] = unhexf(v)
            pos += 1
        pos += 1
        cr, sts, headers = botocore_sign(c)
        want = [("canonical request", cr, ours_cr), ("string to sign", sts, ours_sts),
                ("Authorization", headers["Authorization"], ours_auth),
                ("X-Amz-Date", headers["X-Amz-Date"], added.get("x-amz-date"))]
        if c["token"] is not None:
            want.append(("X-Amz-Security-Token", c["token"], added.get("x-amz-security-token")))
        if c["flags"] & SIGN_BODY:
            want.append(("x-amz-content-sha256", headers["X-Amz-Content-SHA256"], added.get("x-amz-content-sha256")))
        bad = [(what, b, o) for what, b, o in want if b != o]
        if bad:
            failures += 1
            print(f"FAIL {describe(c)}")
            for what, b, o in bad:
                print(f"  {what} differs:\n    botocore: {b!r}\n    txpipe:   {o!r}")
        checked["s3"] += c["s3"]
        checked["token"] += c["token"] is not None
        checked["omit"] += bool(c["flags"] & OMIT_SESSION_TOKEN)
        checked["unsigned"] += c["payload_hash"] == "UNSIGNED-PAYLOAD"
        checked["repeated"] += len({n.lower() for n, _ in c["headers"]}) < len(c["headers"])
        checked["query"] += c["query"] is not None
        checked["dots"] += "/./" in c["path"] or "/../" in c["path"] or "//" in c["path"]
    print(f"sigv4_diff: {count - failures} of {count} requests signed identically by txpipe and botocore "
          f"{botocore.__version__} (seed {seed}; {checked['s3']} S3-style, {checked['token']} with a session "
          f"token, {checked['omit']} of them unsigned, {checked['unsigned']} UNSIGNED-PAYLOAD, "
          f"{checked['repeated']} with repeated headers, {checked['query']} with a query, "
          f"{checked['dots']} with dot segments or empty segments)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
