"""Recovering from a branch switch with a real git repository made here (git init, commits on
two branches, switching), and a half-applied head found by Alembic's autogenerate compare."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from alembic import command

from rfsetup.core import alembic as migrations
from rfsetup.core.branchswitch import find_revision, parse_revision
from rfsetup.core.recovery import diagnose, recovery_lines, stamp_ancestor
from tests.conftest import ALEMBIC_INI
from tests.helpers.alembic_project import Revision, SyntheticProject, make_project
from tests.helpers.db import alembic_config, db, settings_for, tables, version

GIT_ENV = {"GIT_AUTHOR_NAME": "Ann Dev", "GIT_AUTHOR_EMAIL": "ann@example.com",
           "GIT_COMMITTER_NAME": "Ann Dev", "GIT_COMMITTER_EMAIL": "ann@example.com",
           "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, env={**os.environ, **GIT_ENV}, check=True,
                          capture_output=True, text=True).stdout


class Repo:
    """main: r1, r2 (and later m3); feature/billing: r1, r2, f3 (invoices), f4 (payments)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.project: SyntheticProject = make_project(root, 2)
        git(root, "init", "-q", "-b", "main")
        git(root, "add", "-A")
        git(root, "commit", "-q", "-m", "base revisions")
        self.r1, self.r2 = self.project.ids
        git(root, "switch", "-q", "-c", "feature/billing")
        self.f3 = self.project.add(Revision("f3_invoices", (self.r2,), "create invoices",
                                            "invoices"))
        self.f4 = self.project.add(Revision("f4_payments", ("f3_invoices",), "create payments",
                                            "payments"))
        git(root, "add", "-A")
        git(root, "commit", "-q", "-m", "billing: invoices and payments")

    def switch(self, branch: str) -> None:
        git(self.root, "switch", "-q", branch)

    def add_on_main(self) -> None:
        self.switch("main")
        self.project.add(Revision("m3_audit", (self.r2,), "create audit", "audit"))
        git(self.root, "add", "-A")
        git(self.root, "commit", "-q", "-m", "audit log")


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    return Repo(tmp_path / "app")


def test_the_branch_that_has_it_and_the_ways_out(repo: Repo, fresh_db: str,
                                                 project_dir: Path) -> None:
    settings = settings_for(repo.project.ini, fresh_db, project_dir)
    migrations.upgrade(settings, "head", backup=False)  # on feature/billing
    repo.add_on_main()  # back on main, which moved on meanwhile
    before = git(repo.root, "status", "--porcelain"), git(repo.root, "rev-parse", "HEAD")
    rec = diagnose(settings)
    assert rec.branch_switch and rec.unknown == ("f4_payments",)
    (home,) = rec.homes
    assert [(h.kind, h.name) for h in home.holders] == [("branch", "feature/billing")]
    assert home.holders[0].path == "migrations/versions/f4_payments_payments.py"
    assert home.introduced is not None and home.introduced.subject == \
        "billing: invoices and payments"
    assert home.checked_out == "main"
    assert rec.ancestor == (repo.r2,) and rec.stamp_target == repo.r2
    assert [r.revision for r in rec.left_behind] == ["f3_invoices", "f4_payments"]
    assert rec.left_behind[0].ops[0] == "create_table invoices"
    text = "\n".join(recovery_lines(rec))
    assert "f4_payments is on branch feature/billing" in text
    assert f"the newest revision both histories share: {repo.r2}" in text
    assert "git switch feature/billing" in text and f"rfsetup migrate down {repo.r2} --yes" \
        in text and "git switch main" in text
    assert "f3_invoices create invoices: create_table invoices" in text
    # git was only read
    assert (git(repo.root, "status", "--porcelain"), git(repo.root, "rev-parse", "HEAD")) == \
        before

    # way out 1, followed to the letter: roll back on that branch, come back, upgrade
    repo.switch("feature/billing")
    migrations.downgrade(settings, repo.r2, backup=False)
    repo.switch("main")
    migrations.upgrade(settings, "head", backup=False)
    assert version(fresh_db) == ("m3_audit",)
    assert tables(fresh_db) == {"t_0001", "t_0002", "audit"}
    assert not diagnose(settings).problem


def test_stamping_the_common_ancestor(repo: Repo, fresh_db: str, project_dir: Path) -> None:
    settings = settings_for(repo.project.ini, fresh_db, project_dir)
    migrations.upgrade(settings, "head", backup=False)
    repo.add_on_main()
    rec = diagnose(settings)
    result = stamp_ancestor(settings, rec)
    assert result.to_revisions == (repo.r2,) and version(fresh_db) == (repo.r2,)
    # what the other branch created is still there, as the diagnosis said
    assert {"invoices", "payments"} <= tables(fresh_db)
    migrations.upgrade(settings, "head", backup=False)
    assert version(fresh_db) == ("m3_audit",)


def test_a_revision_removed_from_every_branch(repo: Repo, fresh_db: str,
                                              project_dir: Path) -> None:
    settings = settings_for(repo.project.ini, fresh_db, project_dir)
    migrations.upgrade(settings, "head", backup=False)
    git(repo.root, "rm", "-q", "migrations/versions/f4_payments_payments.py")
    git(repo.root, "commit", "-q", "-m", "drop the payments revision")
    rec = diagnose(settings)
    (home,) = rec.homes
    assert [h.kind for h in home.holders] == ["commit"]
    assert "refs/heads/feature/billing" in home.containing
    assert rec.ancestor == ("f3_invoices",)
    text = "\n".join(recovery_lines(rec))
    assert "is in no branch now; it was added in commit" in text
    assert f"git switch --detach {home.holders[0].ref[:10]}" in text


def test_a_revision_git_never_saw(repo: Repo, fresh_db: str, project_dir: Path) -> None:
    settings = settings_for(repo.project.ini, fresh_db, project_dir)
    migrations.upgrade(settings, repo.r1, backup=False)
    with db(fresh_db) as conn, conn.cursor() as cur:
        cur.execute("UPDATE alembic_version SET version_num = 'zz_elsewhere'")
    rec = diagnose(settings)
    assert rec.branch_switch and not rec.homes[0].found and rec.ancestor == ()
    text = "\n".join(recovery_lines(rec))
    assert "no branch, tag or commit" in text and "git fetch --all" in text


def test_outside_a_git_repository(tmp_path: Path) -> None:
    project = make_project(tmp_path / "plain", 1)
    home = find_revision([project.versions], "x")
    assert not home.found and "not in a git repository" in (home.error or "")


def test_half_applied_head_names_the_objects(fresh_db: str, project_dir: Path) -> None:
    command.upgrade(alembic_config(fresh_db), "head")
    settings = settings_for(ALEMBIC_INI, fresh_db, project_dir)
    clean = diagnose(settings)
    assert not clean.problem and clean.drift is not None and clean.drift.compared
    assert "matches the models" in recovery_lines(clean)[0]
    with db(fresh_db) as conn, conn.cursor() as cur:
        cur.execute("ALTER TABLE users DROP COLUMN avatar_url")
        cur.execute("DROP TABLE threat_reports")
        cur.execute("CREATE TABLE scratch (id int)")
    rec = diagnose(settings)
    assert rec.half_applied
    objects = {d.object for d in rec.drift.differences}  # type: ignore[union-attr]
    assert {"column users.avatar_url", "table threat_reports", "table scratch"} <= objects
    text = "\n".join(recovery_lines(rec))
    assert "column users.avatar_url: missing from the database" in text
    assert "table scratch: the database has it, the models do not" in text


def test_without_target_metadata_nothing_is_compared(fresh_db: str, tmp_path: Path,
                                                     project_dir: Path) -> None:
    project = make_project(tmp_path / "proj", 1)
    settings = settings_for(project.ini, fresh_db, project_dir)
    migrations.upgrade(settings, "head", backup=False)
    rec = diagnose(settings)
    assert not rec.problem and "gives no target_metadata" in (rec.drift_note or "")


def test_parse_revision_without_running_it() -> None:
    parsed = parse_revision('"""add invoices\n\nRevision ID: x\n"""\nfrom alembic import op\n'
                            'import sqlalchemy as sa\nrevision: str = "x1"\n'
                            'down_revision: str | None = ("a", "b")\n'
                            "raise SystemExit('never run')\n"
                            "def upgrade():\n    op.create_table('invoices')\n"
                            "    op.add_column('users', sa.Column('plan', sa.Text()))\n")
    assert parsed is not None and parsed.revision == "x1" and parsed.down == ("a", "b")
    assert parsed.message == "add invoices"
    assert parsed.ops == ("create_table invoices", "add_column users.plan")
