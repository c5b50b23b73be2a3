package git

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/caravan-dev/caravan/api/v1alpha1"
	"github.com/caravan-dev/caravan/internal/discovery"
)

// Discover returns the commits sub selects, best first, at most its
// discoveryLimit (default 20, at most 100):
//
//   - NewestFromBranch (the default): the commits of sub's branch (the
//     remote HEAD's branch when none is named), newest first as `git log`
//     lists them; includePaths and excludePaths compare each commit with
//     its first parent.
//   - SemVer: tags that parse as semantic versions (only X.Y.Z, with an
//     optional leading "v", unless strictSemvers is false) and satisfy
//     semverConstraint, greatest first.
//   - Lexical: tags, greatest name first.
//   - NewestTag: tags, newest first by creator date (the tagger's date for
//     annotated tags, the commit's for lightweight ones).
//
// Tag strategies apply allowTagsRegexes, ignoreTagsRegexes and their older
// spellings; every strategy applies expressionFilter (over id, commitDate,
// author, committer, subject for branches; tag, id, creatorDate, author,
// committer, subject, tagger, annotation for tags).
//
// Every call checks the remote (concurrent calls share one ls-remote) and
// fetches into the shared mirror only what moved. creds may be nil. Errors
// are discovery.Errors of kind ErrInvalid (the subscription cannot work),
// ErrAuth, ErrNotFound (repository or branch), ErrUnreachable, or
// ErrNoMatch; with ErrNoMatch the result is returned too, with no commits.
// For ssh URLs the server's host key is not verified (see Remote).
func (m *Mirrors) Discover(ctx context.Context, sub *v1alpha1.GitSubscription, creds *discovery.Credentials) (*v1alpha1.GitDiscoveryResult, error) {
	if sub == nil {
		return nil, discovery.NewError(discovery.ErrInvalid, "no Git subscription to discover from")
	}
	sel, err := newSelector(sub)
	if err != nil {
		return nil, err
	}
	rem, err := prepareRemote(Remote{URL: sub.RepoURL, Credentials: creds, InsecureSkipTLSVerify: sub.InsecureSkipTLSVerify})
	if err != nil {
		return nil, err
	}
	rr, err := m.lsRemote(ctx, rem)
	if err != nil {
		return nil, err
	}
	mir := m.mirror(rem.key)
	var commits []v1alpha1.DiscoveredCommit
	if sel.strategy == v1alpha1.CommitSelectionStrategyNewestFromBranch {
		commits, err = m.discoverBranch(ctx, mir, rem, rr, sel)
	} else {
		commits, err = m.discoverTags(ctx, mir, rem, rr, sel)
	}
	res := &v1alpha1.GitDiscoveryResult{RepoURL: sub.RepoURL, Commits: commits}
	if res.Commits == nil {
		res.Commits = []v1alpha1.DiscoveredCommit{}
	}
	if err != nil {
		if errors.Is(err, discovery.ErrNoMatch) {
			return res, err
		}
		return nil, err
	}
	return res, nil
}

// discoverBranch selects commits of the subscribed branch.
func (m *Mirrors) discoverBranch(ctx context.Context, mir *mirror, r *remote, rr *remoteRefs, sel *selector) ([]v1alpha1.DiscoveredCommit, error) {
	branch := sel.branch
	if branch == "" {
		branch = rr.head
	}
	switch {
	case branch == "" && len(rr.refs) == 0:
		return nil, discovery.NewError(discovery.ErrNotFound,
			"repository %s has no commits yet: push a branch to it, or check repoURL", r.url)
	case branch == "":
		return nil, discovery.NewError(discovery.ErrNotFound,
			"repository %s has no default branch (its HEAD names none): set branch on the subscription", r.url)
	}
	ref := headsPrefix + branch
	if _, ok := rr.refs[ref]; !ok {
		return nil, discovery.NewError(discovery.ErrNotFound,
			"branch %q not found in %s: check the subscription's branch, or push that branch", branch, r.url)
	}
	if err := m.ensure(ctx, mir, r, rr, []string{ref}, nil); err != nil {
		return nil, err
	}
	id := rr.refs[ref]
	key := "branch\x00" + mir.key + "\x00" + id + "\x00" + branch + "\x00" + sel.specKey
	return m.listed(ctx, key, sel.cacheable, func(ctx context.Context) ([]v1alpha1.DiscoveredCommit, error) {
		return m.listBranch(ctx, mir, r, id, branch, sel)
	})
}

// listBranch lists the commits of branch, whose head is id, that sel
// selects.
func (m *Mirrors) listBranch(ctx context.Context, mir *mirror, r *remote, id, branch string, sel *selector) ([]v1alpha1.DiscoveredCommit, error) {
	withPaths := sel.hasPathFilters()
	args := []string{"log", "-z", "--format=" + commitFormat}
	if withPaths {
		args = append(args, "--name-only", "--no-renames", "--diff-merges=first-parent")
	}
	if sel.filter == nil && !withPaths {
		args = append(args, fmt.Sprintf("--max-count=%d", sel.limit))
	}
	args = append(args, id, "--")
	var out []v1alpha1.DiscoveredCommit
	err := m.stream(ctx, mir.path, nil, args, func(rec []byte) (bool, error) {
		c, paths, err := parseCommit(rec)
		if err != nil {
			return false, err
		}
		keep, err := sel.keep(branchEnv(c))
		if err != nil {
			return false, err
		}
		if keep && withPaths {
			keep = sel.matchesPaths(paths)
		}
		if keep {
			out = append(out, v1alpha1.DiscoveredCommit{
				ID:          c.id,
				Branch:      branch,
				Subject:     shortenSubject(c.subject),
				Author:      c.author,
				Committer:   c.committer,
				CreatorDate: &metav1.Time{Time: c.date},
			})
		}
		return len(out) < sel.limit, nil
	})
	if err != nil {
		return nil, wrapRemoteErr("list commits of "+r.url, err)
	}
	if len(out) == 0 {
		return nil, discovery.NewError(discovery.ErrNoMatch,
			"no commit on branch %q of %s passes the subscription's filters (%s): loosen them, or push a commit they accept",
			branch, r.url, sel.activeFilters())
	}
	return out, nil
}

// discoverTags selects tagged commits for the SemVer, Lexical and NewestTag
// strategies.
func (m *Mirrors) discoverTags(ctx context.Context, mir *mirror, r *remote, rr *remoteRefs, sel *selector) ([]v1alpha1.DiscoveredCommit, error) {
	total := 0
	candidates := map[string]string{} // tag name → tag or commit object
	var needed []string
	for ref := range rr.refs {
		name, ok := strings.CutPrefix(ref, tagsPrefix)
		if !ok {
			continue
		}
		total++
		if sel.tagCandidate(name) {
			candidates[name] = rr.refs[ref]
			needed = append(needed, ref)
		}
	}
	if total == 0 {
		return nil, discovery.NewError(discovery.ErrNoMatch,
			"repository %s has no tags: push a tag, or use commitSelectionStrategy NewestFromBranch", r.url)
	}
	if len(needed) == 0 {
		return nil, tagsNoMatch(total, r, sel)
	}
	slices.Sort(needed)
	if err := m.ensure(ctx, mir, r, rr, needed, nil); err != nil {
		return nil, err
	}
	// The same tags (names and objects) with the same subscription always
	// select the same commits.
	h := sha256.New()
	for _, ref := range needed {
		fmt.Fprintf(h, "%s %s\n", ref, rr.refs[ref])
	}
	key := "tags\x00" + mir.key + "\x00" + hex.EncodeToString(h.Sum(nil)) + "\x00" + sel.specKey
	return m.listed(ctx, key, sel.cacheable, func(ctx context.Context) ([]v1alpha1.DiscoveredCommit, error) {
		return m.listTagged(ctx, mir, r, candidates, total, sel)
	})
}

// listTagged lists the tagged commits that sel selects among the candidate
// tags (those that passed the name filters, out of total).
func (m *Mirrors) listTagged(ctx context.Context, mir *mirror, r *remote, candidates map[string]string, total int, sel *selector) ([]v1alpha1.DiscoveredCommit, error) {
	tags, err := m.listTags(ctx, mir, candidates)
	if err != nil {
		return nil, err
	}
	kept := tags[:0]
	for _, t := range tags {
		keep, err := sel.keep(tagEnv(t))
		if err != nil {
			return nil, err
		}
		if keep {
			kept = append(kept, t)
		}
	}
	tags = kept
	switch sel.strategy {
	case v1alpha1.CommitSelectionStrategySemVer:
		for _, t := range tags {
			t.semver = parseSemver(t.name, sel.strict)
		}
		slices.SortStableFunc(tags, func(a, b *tagInfo) int {
			if c := b.semver.Compare(a.semver); c != 0 {
				return c
			}
			return strings.Compare(b.semver.Original(), a.semver.Original())
		})
	case v1alpha1.CommitSelectionStrategyLexical:
		slices.SortStableFunc(tags, func(a, b *tagInfo) int { return strings.Compare(b.name, a.name) })
	}
	// NewestTag: listTags already returns them newest first.
	if sel.hasPathFilters() {
		if tags, err = m.filterTagsByPaths(ctx, mir, tags, sel); err != nil {
			return nil, wrapRemoteErr("list changed paths of "+r.url, err)
		}
	}
	if len(tags) == 0 {
		return nil, tagsNoMatch(total, r, sel)
	}
	tags = tags[:min(len(tags), sel.limit)]
	out := make([]v1alpha1.DiscoveredCommit, 0, len(tags))
	for _, t := range tags {
		out = append(out, v1alpha1.DiscoveredCommit{
			ID:          t.commit,
			Tag:         t.name,
			Subject:     shortenSubject(t.subject),
			Author:      t.author,
			Committer:   t.committer,
			CreatorDate: &metav1.Time{Time: t.date},
		})
	}
	return out, nil
}

// tagsNoMatch is the ErrNoMatch of a tag strategy.
func tagsNoMatch(total int, r *remote, sel *selector) error {
	return discovery.NewError(discovery.ErrNoMatch,
		"none of the %d tags of %s passes the subscription's filters (%s): check them against the repository's tags",
		total, r.url, sel.activeFilters())
}

// Output formats. Records start with 0x1e and fields are separated by
// 0x1f, characters that do not occur in names, dates or subjects.
const (
	commitFormat = "%x1e%H%x1f%cI%x1f%an <%ae>%x1f%cn <%ce>%x1f%s"
	tagFormat    = "%1e%(refname:strip=2)%1f%(objecttype)%1f%(objectname)%1f%(*objecttype)%1f%(*objectname)" +
		"%1f%(creatordate:iso-strict)%1f%(contents:subject)" +
		"%1f%(authorname) %(authoremail)%1f%(committername) %(committeremail)" +
		"%1f%(*contents:subject)%1f%(*authorname) %(*authoremail)%1f%(*committername) %(*committeremail)" +
		"%1f%(taggername) %(taggeremail)"
)

// parseCommit reads one `git log -z` record: the header, then (with
// --name-only) the changed paths, NUL-separated.
func parseCommit(rec []byte) (*commitInfo, []string, error) {
	header, rest, _ := bytes.Cut(rec, []byte{0})
	f := strings.Split(string(header), "\x1f")
	if len(f) != 5 {
		return nil, nil, fmt.Errorf("parse git log output: unexpected record %q", header)
	}
	date, err := time.Parse(time.RFC3339, f[1])
	if err != nil {
		return nil, nil, fmt.Errorf("parse commit date %q: %w", f[1], err)
	}
	var paths []string
	for _, p := range bytes.Split(bytes.TrimLeft(rest, "\n"), []byte{0}) {
		if len(p) > 0 {
			paths = append(paths, string(p))
		}
	}
	return &commitInfo{id: f[0], date: date, author: f[2], committer: f[3], subject: f[4]}, paths, nil
}

// listTags returns the mirror's tags that want names, with the object want
// gives, and that point (directly or through one annotated tag) at commits,
// newest first by creator date.
func (m *Mirrors) listTags(ctx context.Context, mir *mirror, want map[string]string) ([]*tagInfo, error) {
	out, err := m.command(ctx, mir.path, nil, nil,
		"for-each-ref", "--sort=-creatordate", "--format="+tagFormat, "refs/tags")
	if err != nil {
		return nil, fmt.Errorf("list tags of mirror: %w", err)
	}
	var tags []*tagInfo
	for _, rec := range bytes.Split(out, []byte{0x1e}) {
		rec = bytes.TrimRight(rec, "\n")
		if len(rec) == 0 {
			continue
		}
		f := strings.Split(string(rec), "\x1f")
		if len(f) != 13 {
			return nil, fmt.Errorf("parse tag list: unexpected record %q", rec)
		}
		if obj, ok := want[f[0]]; !ok || obj != f[2] {
			continue // not a candidate, or moved since the ls-remote
		}
		date, err := time.Parse(time.RFC3339, f[5])
		if err != nil {
			return nil, fmt.Errorf("parse date of tag %q: %w", f[0], err)
		}
		t := &tagInfo{name: f[0], date: date}
		switch {
		case f[1] == "commit": // lightweight
			t.commit, t.subject, t.author, t.committer = f[2], f[6], f[7], f[8]
		case f[1] == "tag" && f[3] == "commit": // annotated
			t.commit, t.annotation, t.subject, t.author, t.committer, t.tagger = f[4], f[6], f[9], f[10], f[11], f[12]
		default:
			m.log.Debug("skipping tag that does not point at a commit", "tag", f[0])
			continue
		}
		tags = append(tags, t)
	}
	return tags, nil
}

// filterTagsByPaths keeps, in order, the tags whose commits pass the path
// filters, stopping once sel.limit are kept. One `git log --no-walk`
// lists the changed paths of all their commits.
func (m *Mirrors) filterTagsByPaths(ctx context.Context, mir *mirror, tags []*tagInfo, sel *selector) ([]*tagInfo, error) {
	var ids []string
	seen := map[string]bool{}
	for _, t := range tags {
		if !seen[t.commit] {
			seen[t.commit] = true
			ids = append(ids, t.commit)
		}
	}
	matched := map[string]bool{}
	var kept []*tagInfo
	next := 0 // the first tag not yet decided
	err := m.stream(ctx, mir.path, []byte(strings.Join(ids, "\n")+"\n"),
		[]string{"log", "--stdin", "--no-walk=unsorted", "-z", "--format=%x1e%H",
			"--name-only", "--no-renames", "--diff-merges=first-parent"},
		func(rec []byte) (bool, error) {
			c, paths, err := parseCommitPaths(rec)
			if err != nil {
				return false, err
			}
			matched[c] = sel.matchesPaths(paths)
			for next < len(tags) {
				ok, decided := matched[tags[next].commit]
				if !decided {
					break
				}
				if ok {
					kept = append(kept, tags[next])
				}
				next++
			}
			return len(kept) < sel.limit, nil
		})
	return kept, err
}

// parseCommitPaths reads a record of the path listing of filterTagsByPaths.
func parseCommitPaths(rec []byte) (string, []string, error) {
	header, rest, _ := bytes.Cut(rec, []byte{0})
	id := string(header)
	if !commitID.MatchString(id) {
		return "", nil, fmt.Errorf("parse git log output: unexpected record %q", header)
	}
	var paths []string
	for _, p := range bytes.Split(bytes.TrimLeft(rest, "\n"), []byte{0}) {
		if len(p) > 0 {
			paths = append(paths, string(p))
		}
	}
	return id, paths, nil
}

// stream runs a local git command in dir and hands each 0x1e-separated
// record of its output to fn until fn returns false, when the command is
// stopped: long listings are read only as far as needed.
func (m *Mirrors) stream(ctx context.Context, dir string, stdin []byte, args []string, fn func(rec []byte) (bool, error)) error {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cmd, cleanup, err := m.newCmd(sctx, dir, nil, args...)
	if err != nil {
		return err
	}
	defer cleanup()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return fmt.Errorf("git %s: %w", args[0], err)
	}
	stderr := &tailBuffer{max: 16 << 10}
	cmd.Stderr = stderr
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("git %s: %w", args[0], err)
	}
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 64<<10), 256<<20)
	sc.Split(splitRecords)
	stopped := false
	var fnErr error
	for sc.Scan() {
		more, err := fn(sc.Bytes())
		if err != nil || !more {
			fnErr, stopped = err, true
			break
		}
	}
	scanErr := sc.Err()
	if stopped {
		cancel()
	}
	waitErr := cmd.Wait()
	switch {
	case fnErr != nil:
		return fnErr
	case stopped:
		return nil
	case waitErr != nil:
		return m.cmdError(ctx, nil, args[0], waitErr, stderr.String())
	case scanErr != nil:
		return fmt.Errorf("read git %s output: %w", args[0], scanErr)
	}
	return nil
}

// splitRecords is a bufio.SplitFunc for records that start with 0x1e.
func splitRecords(data []byte, atEOF bool) (int, []byte, error) {
	start := 0
	if len(data) > 0 && data[0] == 0x1e {
		start = 1
	}
	if i := bytes.IndexByte(data[start:], 0x1e); i >= 0 {
		return start + i, data[start : start+i], nil
	}
	if atEOF {
		if len(data) > start {
			return len(data), data[start:], nil
		}
		return len(data), nil, nil
	}
	return 0, nil, nil
}
