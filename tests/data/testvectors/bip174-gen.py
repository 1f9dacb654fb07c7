#!/usr/bin/env python3
"""Extract BIP-174 test vectors from bip-0174.mediawiki into bip174.json.

Usage: python3 gen.py [--git-dir /work/.mirror/bitcoin+bips/repo]
Reads ./bip-0174.mediawiki (saved copy of `git show HEAD:bip-0174.mediawiki`);
the commit is taken from `git rev-parse HEAD` in the mirror if reachable,
else from ./bip-0174.commit.  No values are typed by hand: everything comes
from the "==Test Vectors==" section of the BIP text.
"""
import base64, binascii, json, os, re, subprocess, sys

HERE = os.path.dirname(os.path.abspath(__file__))
GIT_DIR = "/work/.mirror/bitcoin+bips/repo"
if "--git-dir" in sys.argv:
    GIT_DIR = sys.argv[sys.argv.index("--git-dir") + 1]

src_path = os.path.join(HERE, "bip-0174.mediawiki")
commit_path = os.path.join(HERE, "bip-0174.commit")
try:
    commit = subprocess.check_output(["git", "--git-dir", GIT_DIR, "rev-parse", "HEAD"], text=True).strip()
    blob = subprocess.check_output(["git", "--git-dir", GIT_DIR, "show", "HEAD:bip-0174.mediawiki"])
    with open(src_path, "wb") as f:
        f.write(blob)
    with open(commit_path, "w") as f:
        f.write(commit + "\n")
except Exception as e:  # fall back to the saved copy
    print("note: git unavailable (%s); using saved copy" % e, file=sys.stderr)
    commit = open(commit_path).read().strip()

text = open(src_path, encoding="utf-8").read()
m = re.search(r"^==Test Vectors==\s*$(.*?)^==[^=]", text, re.M | re.S)
assert m, "Test Vectors section not found"
lines = m.group(1).splitlines()

PRE = re.compile(r"<pre>(.*?)</pre>")
FIELD = re.compile(r"^(\*+)\s*(Bytes in Hex|Base64 String):\s*<pre>(.*?)</pre>\s*$")
CASE = re.compile(r"^\*\s*Case:\s*(.*?)\s*$")


def check_pair(item, hexkey, b64key):
    """If both hex and base64 are present, make sure they agree."""
    if hexkey in item and b64key in item:
        if base64.b64decode(item[b64key], validate=True) != bytes.fromhex(item[hexkey]):
            raise SystemExit("hex/base64 mismatch: %r" % item.get("description"))


# ---- pass 1: the "Case:" lists (invalid / valid / fails-signer-checks) ----
section = None
cases = {"invalid": [], "valid": [], "signer_check_failures": []}
cur = None
workflow_start = None
for i, ln in enumerate(lines):
    s = ln.strip()
    if s.startswith("The following are invalid PSBTs"):
        section = "invalid"; continue
    if s.startswith("The following are valid PSBTs"):
        section = "valid"; continue
    if s.startswith("Fails Signer checks"):
        section = "signer_check_failures"; continue
    if s.startswith("The private keys in the tests below"):
        workflow_start = i; break
    mc = CASE.match(s)
    if mc and section:
        cur = {"description": mc.group(1)}
        cases[section].append(cur); continue
    mf = FIELD.match(s)
    if mf and cur is not None:
        key = "hex" if mf.group(2) == "Bytes in Hex" else "base64"
        assert key not in cur, "two %s for %r" % (key, cur["description"])
        cur[key] = mf.group(3).strip()
for sec in cases.values():
    for c in sec:
        assert "base64" in c, c["description"]
        check_pair(c, "hex", "base64")
        # key order: description, base64, hex
        c_sorted = {"description": c["description"], "base64": c["base64"]}
        if "hex" in c:
            c_sorted["hex"] = c["hex"]
        c.clear(); c.update(c_sorted)

# ---- pass 2: the role workflow (creator .. extractor) + combiner-unknowns ----
assert workflow_start is not None
steps = []          # each: {"description": paragraph text, "items": [ {hex/base64} ... ]}
para = []
given = []
for ln in lines[workflow_start:]:
    s = ln.strip()
    if not s:
        continue
    if not s.startswith("*"):
        # prose line; starts a new step if the previous step already has data
        para.append(s)
        continue
    mf = FIELD.match(s)
    if mf:
        if para:
            steps.append({"description": " ".join(para), "given": given, "items": []}); para = []; given = []
        key = "hex" if mf.group(2) == "Bytes in Hex" else "base64"
        items = steps[-1]["items"]
        # a new item begins with a Hex line, or when the current item already has this key
        if key == "hex" or not items or key in items[-1]:
            items.append({})
        items[-1][key] = mf.group(3).strip()
    else:
        # bullet lines with inputs (keys, scripts, prev txs) belong to the prose
        given.append(re.sub(r"</?(pre|tt)>", "", s.lstrip("* ")))

def find_step(pattern):
    hits = [st for st in steps if re.search(pattern, st["description"], re.I)]
    assert len(hits) == 1, (pattern, [h["description"][:60] for h in hits])
    return hits[0]

for st in steps:
    for it in st["items"]:
        check_pair(it, "hex", "base64")

combiner = find_step(r"Given both of the above PSBTs, a combiner")
finalizer = find_step(r"an input finalizer must create")
extractor = find_step(r"a transaction extractor must create")
combiner_unknown_in = find_step(r"two PSBTs with unknown key-value pairs")
combiner_unknown_out = find_step(r"combiner which orders keys lexicographically")

assert len(finalizer["items"]) == 1 and len(extractor["items"]) == 1
fin_out = finalizer["items"][0]
fin_in = combiner["items"][0]
tx_hex = extractor["items"][0]["hex"]
assert "base64" not in extractor["items"][0]

def b64_of(it):
    return it.get("base64") or base64.b64encode(bytes.fromhex(it["hex"])).decode()

out = {
    "source": "bitcoin/bips bip-0174.mediawiki",
    "commit": commit,
    "notes": [
        "Generated by gen.py from the ==Test Vectors== section; hex and base64 cross-checked where both given.",
        "BIP-174 lists only version-0 PSBT vectors (PSBTv2 vectors live in BIP-370); there is no 'v2' category.",
        "'signer_check_failures' are the BIP's 'Fails Signer checks' cases: structurally valid PSBTs that a Signer must refuse to sign.",
        "'workflow' is the full creator->updater->signer->combiner->finalizer->extractor chain in order; "
        "'finalizer' and 'extractor' are derived from it.",
    ],
    "invalid": cases["invalid"],
    "valid": cases["valid"],
    "signer_check_failures": cases["signer_check_failures"],
    "finalizer": [{
        "description": finalizer["description"],
        "input_psbt_base64": b64_of(fin_in),
        "output_psbt_base64": b64_of(fin_out),
        "input_psbt_hex": fin_in.get("hex"),
        "output_psbt_hex": fin_out.get("hex"),
    }],
    "extractor": [{
        "description": extractor["description"],
        "psbt_base64": b64_of(fin_out),
        "psbt_hex": fin_out.get("hex"),
        "tx_hex": tx_hex,
    }],
    "combiner": [
        {"description": combiner["description"],
         "note": "inputs are the outputs of the two preceding signer steps in 'workflow'"},
        {"description": combiner_unknown_in["description"] + " / " + combiner_unknown_out["description"],
         "input_psbts_base64": [b64_of(it) for it in combiner_unknown_in["items"]],
         "output_psbt_base64": b64_of(combiner_unknown_out["items"][0])},
    ],
    "workflow": [
        {"description": st["description"], "given": st["given"],
         "psbts": [{k: v for k, v in (("base64", it.get("base64")), ("hex", it.get("hex"))) if v}
                   for it in st["items"]]}
        for st in steps
    ],
}
# combiner[0] inputs = the two signer outputs
signers = [st for st in steps if re.search(r"\ba signer\b", st["description"])]
assert len(signers) == 2
out["combiner"][0]["input_psbts_base64"] = [b64_of(s["items"][0]) for s in signers]
out["combiner"][0]["output_psbt_base64"] = b64_of(combiner["items"][0])

with open(os.path.join(HERE, "bip174.json"), "w") as f:
    json.dump(out, f, indent=1)
    f.write("\n")
print("commit", commit)
for k in ("invalid", "valid", "signer_check_failures", "finalizer", "extractor", "combiner", "workflow"):
    print(k, len(out[k]))
