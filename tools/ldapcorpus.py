#!/usr/bin/env python3
"""A deterministic directory for the LDAP benchmark (bench/compare/ldap_vs_slapd.sh):
the same people and groups as a posthorn config and as an LDIF for slapd.
Standard library only.

  generate DIR [--users N] [--seed S] [--port P] [--data-dir D] [--shards X]
               [--prefix ab] [--size-limit L]
      writes into DIR:
        posthorn.toml  a whole posthorn config: [server] (data_dir D, shards X),
                       [listen] ldap = ["127.0.0.1:P"] and no other listener,
                       [domains] local = ["example.test"], [ldap] size_limit L,
                       N [[users]] ({PLAIN} passwords) and the groups
        directory.ldif the same tree for slapadd: dc=example,dc=test,
                       ou=people (uid=<name>, inetOrgPerson: cn, sn, givenName,
                       displayName, mail, uid, userPassword), ou=groups
                       (groupOfNames cn=<group>, member = the people's DNs)
        mails.txt      every user's address, one a line (corpus order): what
                       posthorn-ldapload --mode eq-mail picks from
        manifest       key=value lines: users, groups, seed, base, prefix,
                       sub_hits (entries whose cn starts with the prefix,
                       case-insensitively), sample_mail, sample_uid, sample_cn
      Same N and seed -> the same bytes.

The people: given names and surnames from pools of a few hundred each, drawn
uniformly (seeded), a handful with accents (cn, sn, givenName and displayName
in UTF-8; the uid and the address folded to ASCII). cn = displayName =
"<given> <surname>". uid = "<given>.<surname>" in lower case, with a number
appended where that is taken, and the one address uid@example.test. With the
default pools about 1 % of the people have a given name starting with "Ab"
(Abel, Abigail, Abdullah), so `cn=ab*` matches about 100 of 10,000
(sub_hits says exactly how many). Groups: a few (engineering, sales, support,
finance, admins), each with a seeded sample of members.
"""
import argparse
import base64
import os
import random
import sys
import unicodedata

DOMAIN = "example.test"
BASE = "dc=example,dc=test"
PEOPLE = "ou=people," + BASE
GROUPS = "ou=groups," + BASE

# Given names: varied, from many languages; exactly three start with "Ab".
GIVEN = """
Abel Abigail Abdullah Ada Adrian Agnes Aidan Aisha Akira Alan Albert Alejandro
Alessandro Alice Alicia Alma Amara Amelia Amir Ana Anders Andrea Andrei Angela
Anika Anton Arjun Arne Astrid Aurora Axel Beatrix Ben Benedikt Bianca Björn
Boris Brigitte Bruno Camila Carla Carlos Carmen Caroline Cecilia Chen Chiara
Chloe Christian Clara Claudia Colin Cora Dalia Damian Daniel Daniela Dario David
Deepa Denise Diego Dmitri Dora Edith Eduardo Elena Elias Elif Elisa Elliot Emil
Emilia Emre Enzo Erik Erika Ernesto Esther Ethan Eva Fabian Farah Fatima Felix
Fernanda Filip Finn Fiona Florian Frances Freya Gabriel Gabriela Gemma Georg
Giulia Grace Greta Gustav Hana Hannah Hans Harald Hassan Hector Heidi Helena
Henrik Hiroshi Hugo Ida Igor Ilse Imani Ingrid Irene Isaac Isabel Ivan Jacob
Jana Javier Jens Joanna Johan Jonas Jorge José Julia Julian Juno Kai Karim
Karin Karl Kasper Katarina Kenji Kira Klaus Lara Lars Laura Leila Lena Leon
Leonie Liam Lina Linus Lisa Liu Lorenzo Lucas Lucia Ludwig Luis Luka Maja
Malik Marco Margit Maria Marie Marius Marta Martin Mateo Mathilde Matteo Maya
Mei Mika Milan Mira Miriam Mohammed Nadia Naomi Nasser Nico Nils Nina Noah Nora
Olaf Olga Oliver Omar Oscar Otto Pablo Paola Patrick Paula Pedro Petra Philipp
Pia Priya Rafael Rania Raphael Rebecca Renate Ricardo Rita Robert Rosa Ruth
Sabine Salma Samir Sandra Santiago Sara Sebastian Selin Sergei Silvia Simon
Sofia Sonja Stefan Susanne Sven Tamara Tariq Teresa Theo Thomas Tobias Tomás
Ursula Valentina Valerie Vera Victor Viktoria Wei Wilhelm Xavier Yara Yusuf
Zara Zoe Zoltan
""".split()

SURNAMES = """
Adams Ahmed Albers Almeida Andersen Arslan Bailey Baker Barros Becker Bergström
Bianchi Böhm Brandt Braun Brooks Brown Bruno Castillo Castro Chen Clarke Conti
Costa Cruz Dahl Davies Delgado Diaz Dietrich Dubois Duarte Eriksson Esposito
Evans Fernández Ferrari Fischer Fontaine Foster Fuchs Galli García Gomes Graf
Green Greco Gupta Haas Hahn Hansen Hartmann Hayes Herrera Hoffmann Horvat Huber
Ibrahim Ivanov Jansen Jensen Johansson Jones Jung Kaiser Kang Keller Khan Kim
Klein Koch Kovács Kowalski Krause Kumar Lambert Lang Larsen Laurent Lehmann
Lindberg Lopes López Lorenz Ludwig Maier Marino Martin Martínez Mayer Meier
Mendes Meyer Moreau Morris Müller Murphy Nagy Nakamura Neumann Nguyen Nielsen
Novak Olsen Ortiz Otto Park Patel Pereira Peters Petrov Pohl Popescu Quinn
Ramos Reyes Ricci Richter Rivera Rodrigues Romano Rossi Roth Russo Sato Schmid
Schmidt Schneider Scholz Schröder Schulz Schwarz Silva Simon Singh Smith
Sokolov Sousa Stein Suzuki Svensson Tanaka Taylor Thomas Torres Vogel Wagner
Walker Walter Wang Weber Weiss Werner Wilson Wolf Wong Wright Yamamoto Yilmaz
Young Zhang Ziegler Zimmermann
""".split()

GROUP_DEFS = [
    ("engineering", "Engineering", 0.20),
    ("sales", "Sales and accounts", 0.12),
    ("support", "Customer support", 0.08),
    ("finance", "Finance", 0.03),
    ("admins", "Mail and directory administrators", 0.002),
]


def ascii_fold(s):
    return "".join(c for c in unicodedata.normalize("NFKD", s) if not unicodedata.combining(c))


def ldif_line(attr, value):
    """attr: value, or attr:: base64 when the value is not safe as is (RFC 2849)."""
    raw = value.encode("utf-8")
    safe = raw and all(0x20 <= b < 0x7F for b in raw) and raw[0] not in b" :<" and raw[-1] != 0x20
    if safe:
        return f"{attr}: {value}\n"
    return f"{attr}:: {base64.b64encode(raw).decode('ascii')}\n"


def toml_str(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def people(n, seed):
    rng = random.Random(seed)
    taken = set()
    out = []
    for _ in range(n):
        given, sur = rng.choice(GIVEN), rng.choice(SURNAMES)
        stem = ascii_fold(f"{given}.{sur}").lower().replace(" ", "")
        uid, k = stem, 1
        while uid in taken:
            k += 1
            uid = f"{stem}{k}"
        taken.add(uid)
        out.append({"uid": uid, "given": given, "sur": sur, "cn": f"{given} {sur}",
                    "mail": f"{uid}@{DOMAIN}", "password": f"pw-{uid}"})
    return out


def groups(users, seed):
    rng = random.Random(seed * 7919 + 1)
    out = []
    for name, desc, share in GROUP_DEFS:
        k = max(1, int(len(users) * share))
        members = sorted(rng.sample(range(len(users)), min(k, len(users))))
        out.append((name, desc, [users[i]["uid"] for i in members]))
    return out


def write_toml(path, users, grps, port, data_dir, shards, size_limit, seed):
    with open(path, "w", encoding="utf-8") as f:
        f.write(f"# generated by tools/ldapcorpus.py (seed {seed}, {len(users)} users); throwaway\n")
        f.write("[server]\nhostname = \"mx.example.test\"\n")
        f.write(f"shards = {shards if shards.isdigit() else toml_str(shards)}\n")
        f.write(f"io = \"auto\"\ndata_dir = {toml_str(data_dir)}\ndurability = \"fsync\"\n\n")
        f.write("[listen]\nsmtp = []\npop3 = []\nimap = []\n")
        f.write(f"ldap = [\"127.0.0.1:{port}\"]\nrpc = []\nmetrics = []\n\n")
        f.write(f"[domains]\nlocal = [\"{DOMAIN}\"]\n\n")
        f.write(f"[ldap]\nsize_limit = {size_limit}\n")
        for u in users:
            f.write(f"\n[[users]]\nname = {toml_str(u['uid'])}\npassword = {toml_str('{PLAIN}' + u['password'])}\n"
                    f"display_name = {toml_str(u['cn'])}\naddresses = [{toml_str(u['mail'])}]\n"
                    f"given_name = {toml_str(u['given'])}\nsurname = {toml_str(u['sur'])}\n")
        for name, desc, members in grps:
            f.write(f"\n[[groups]]\nname = {toml_str(name)}\ndescription = {toml_str(desc)}\n"
                    f"members = [{', '.join(toml_str(m) for m in members)}]\n")


def write_ldif(path, users, grps):
    with open(path, "w", encoding="utf-8") as f:
        f.write(f"dn: {BASE}\nobjectClass: top\nobjectClass: dcObject\nobjectClass: organization\n"
                f"dc: example\no: example.test\n\n")
        f.write(f"dn: {PEOPLE}\nobjectClass: top\nobjectClass: organizationalUnit\nou: people\n\n")
        f.write(f"dn: {GROUPS}\nobjectClass: top\nobjectClass: organizationalUnit\nou: groups\n\n")
        for u in users:
            f.write(f"dn: uid={u['uid']},{PEOPLE}\nobjectClass: top\nobjectClass: person\n"
                    f"objectClass: organizationalPerson\nobjectClass: inetOrgPerson\n")
            f.write(f"uid: {u['uid']}\n")
            f.write(ldif_line("cn", u["cn"]))
            f.write(ldif_line("sn", u["sur"]))
            f.write(ldif_line("givenName", u["given"]))
            f.write(ldif_line("displayName", u["cn"]))
            f.write(f"mail: {u['mail']}\n")
            f.write(f"userPassword: {u['password']}\n\n")
        for name, desc, members in grps:
            f.write(f"dn: cn={name},{GROUPS}\nobjectClass: top\nobjectClass: groupOfNames\ncn: {name}\n")
            f.write(ldif_line("description", desc))
            for m in members:
                f.write(f"member: uid={m},{PEOPLE}\n")
            f.write("\n")


def cmd_generate(a):
    if a.users < 1:
        sys.exit("ldapcorpus: --users must be at least 1")
    os.makedirs(a.dir, exist_ok=True)
    users = people(a.users, a.seed)
    grps = groups(users, a.seed)
    prefix = a.prefix.lower()
    hits = sum(1 for u in users if u["cn"].lower().startswith(prefix))
    data_dir = a.data_dir or os.path.join(os.path.abspath(a.dir), "posthorn-data")
    write_toml(os.path.join(a.dir, "posthorn.toml"), users, grps, a.port, data_dir, a.shards, a.size_limit, a.seed)
    write_ldif(os.path.join(a.dir, "directory.ldif"), users, grps)
    with open(os.path.join(a.dir, "mails.txt"), "w") as f:
        f.writelines(u["mail"] + "\n" for u in users)
    sample = users[len(users) // 2]
    with open(os.path.join(a.dir, "manifest"), "w", encoding="utf-8") as f:
        f.write(f"users={len(users)}\ngroups={len(grps)}\nseed={a.seed}\nbase={BASE}\nprefix={a.prefix}\n"
                f"sub_hits={hits}\nsample_mail={sample['mail']}\nsample_uid={sample['uid']}\n"
                f"sample_cn={sample['cn']}\n")
    print(f"users={len(users)} groups={len(grps)} prefix={a.prefix} sub_hits={hits} dir={a.dir}")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("generate", help="write posthorn.toml, directory.ldif, mails.txt, manifest")
    g.add_argument("dir")
    g.add_argument("--users", type=int, default=10000)
    g.add_argument("--seed", type=int, default=20261126)
    g.add_argument("--port", type=int, default=3890, help="posthorn's [listen] ldap port on 127.0.0.1")
    g.add_argument("--data-dir", default="", help="posthorn's data_dir (default DIR/posthorn-data)")
    g.add_argument("--shards", default="auto", help='posthorn\'s shards: "auto" or a number')
    g.add_argument("--prefix", default="ab", help="the cn prefix whose matches the manifest counts")
    g.add_argument("--size-limit", type=int, default=100000, help="posthorn's [ldap] size_limit")
    a = p.parse_args()
    if a.cmd == "generate":
        cmd_generate(a)


if __name__ == "__main__":
    main()
