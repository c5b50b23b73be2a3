package image

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/caravan-dev/caravan/internal/discovery"
)

// Annotation keys that carry an image's build date, looked up (in this
// order, in the manifest's annotations and then the config's labels) before
// the config's created field.
const (
	annotationCreated         = "org.opencontainers.image.created"
	annotationLegacyBuildDate = "org.label-schema.build-date"
)

// maxConfigSize bounds an image config blob read for its created date.
const maxConfigSize = 4 << 20

// manifestInfo is what never changes for one digest: a manifest's content
// is addressed by it. An index's created date is derived from its
// platform images' infos, which are cached under their own digests.
type manifestInfo struct {
	index       bool
	created     *time.Time        // images only
	annotations map[string]string // manifest or index annotations
	platforms   []platformRef     // index only: its image entries
	// os, arch and variant are an image's platform, from its config.
	os, arch, variant string
}

// platformRef is one image entry of an index.
type platformRef struct {
	os, arch, variant string
	digest            string
	annotations       map[string]string // the index descriptor's
}

// reference is a tag resolved to what discovery reports.
type reference struct {
	tag         string
	digest      string
	created     *time.Time
	annotations map[string]string
}

// repoClient talks to one repository with one set of credentials.
type repoClient struct {
	d         *Discoverer
	s         *selector
	puller    *remote.Puller
	key       string // the puller's cache key: repository and a credentials fingerprint
	withCreds bool
	headFirst bool // resolve even unseen tags with HEAD (see pullQuota)
}

// pullQuota reports whether a registry counts manifest GETs against a pull
// quota while HEADs are free, as Docker Hub does. There, a tag never seen
// is resolved with a HEAD and its manifest fetched only when its digest is
// not known yet: 500 tags of five images cost 505 requests but 5 pulls.
func pullQuota(registry string) bool {
	switch registry {
	case name.DefaultRegistry, "docker.io", "registry-1.docker.io":
		return true
	}
	return false
}

// client returns a repoClient for s, reusing the puller (and so the
// registry's authentication handshake) of earlier polls with the same
// repository and credentials.
func (d *Discoverer) client(s *selector, creds *discovery.Credentials) (*repoClient, error) {
	withCreds := creds != nil && (creds.Username != "" || creds.Password != "")
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%t\x00", s.repo.Name(), s.insecure)
	if withCreds {
		fmt.Fprintf(h, "%s\x00%s", creds.Username, creds.Password)
	}
	key := hex.EncodeToString(h.Sum(nil))
	c := &repoClient{d: d, s: s, key: key, withCreds: withCreds, headFirst: pullQuota(s.repo.RegistryStr())}
	if p, ok := d.pullers.get(key); ok {
		c.puller = p
		return c, nil
	}
	var auth authn.Authenticator = authn.Anonymous
	if withCreds {
		auth = &authn.Basic{Username: creds.Username, Password: creds.Password}
	}
	tr := d.transport
	if s.insecure {
		tr = d.insecureTransport
	}
	p, err := remote.NewPuller(
		remote.WithAuth(auth),
		remote.WithTransport(tr),
		remote.WithRetryBackoff(retryBackoff),
		remote.WithUserAgent(userAgent),
	)
	if err != nil {
		return nil, fmt.Errorf("create registry client for %s: %w", s.repoURL, err)
	}
	d.pullers.add(key, p)
	c.puller = p
	return c, nil
}

// shared runs fn once for concurrent callers with the same key. A caller
// whose own context is still live runs fn again if the call it joined was
// cancelled by another caller's context.
func (d *Discoverer) shared(ctx context.Context, key string, fn func() (any, error)) (any, error) {
	v, err, _ := d.flight.Do(key, fn)
	if err != nil && errors.Is(err, context.Canceled) && ctx.Err() == nil {
		return fn()
	}
	return v, err
}

// listTags returns the repository's tags in the registry's order (often
// none in particular). Concurrent polls of the same repository with the
// same credentials share one request.
func (c *repoClient) listTags(ctx context.Context) ([]string, error) {
	v, err := c.d.shared(ctx, "list\x00"+c.key, func() (any, error) {
		return c.puller.List(ctx, c.s.repo)
	})
	if err != nil {
		return nil, fmt.Errorf("list tags of %s: %w", c.s.repoURL, err)
	}
	return v.([]string), nil
}

func (c *repoClient) tagKey(tag string) string   { return c.s.repo.Name() + ":" + tag }
func (c *repoClient) infoKey(dgst string) string { return c.s.repo.Name() + "@" + dgst }

// resolve finds what tag points at now. With trustTags (cacheByTag) a tag
// seen before costs no request; otherwise a tag seen before costs a HEAD
// (to notice a re-push) and a new one a GET, whose manifest is kept. It
// returns nil when the tag's index has no image for the platform.
func (c *repoClient) resolve(ctx context.Context, tag string, trustTags bool) (*reference, error) {
	var desc *remote.Descriptor
	dgst, seen := c.d.tags.get(c.tagKey(tag))
	switch {
	case seen && trustTags:
	case seen || c.headFirst:
		hd, err := c.puller.Head(ctx, c.s.repo.Tag(tag))
		if err != nil {
			return nil, fmt.Errorf("resolve tag %s: %w", tag, err)
		}
		dgst = hd.Digest.String()
	default:
		var err error
		if desc, err = c.puller.Get(ctx, c.s.repo.Tag(tag)); err != nil {
			return nil, fmt.Errorf("get manifest of tag %s: %w", tag, err)
		}
		dgst = desc.Digest.String()
	}
	c.d.tags.add(c.tagKey(tag), dgst)
	info, err := c.info(ctx, dgst, desc)
	if err != nil {
		return nil, err
	}
	return c.reference(ctx, tag, dgst, info)
}

// info returns the immutable metadata of dgst, from the cache or fetched
// once (desc, when the caller already holds the manifest, saves the GET).
func (c *repoClient) info(ctx context.Context, dgst string, desc *remote.Descriptor) (*manifestInfo, error) {
	key := c.infoKey(dgst)
	if info, ok := c.d.infos.get(key); ok {
		return info, nil
	}
	v, err := c.d.shared(ctx, "info\x00"+key, func() (any, error) {
		if info, ok := c.d.infos.get(key); ok {
			return info, nil
		}
		if desc == nil {
			ref := c.s.repo.Digest(dgst)
			var err error
			if desc, err = c.puller.Get(ctx, ref); err != nil {
				return nil, fmt.Errorf("get manifest %s: %w", dgst, err)
			}
		}
		info, err := parseManifest(desc)
		if err != nil {
			return nil, err
		}
		c.d.infos.add(key, info)
		return info, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*manifestInfo), nil
}

// parseManifest reads an image manifest (fetching its config for the
// build date) or an index.
func parseManifest(desc *remote.Descriptor) (*manifestInfo, error) {
	dgst := desc.Digest.String()
	switch desc.MediaType {
	case types.OCIImageIndex, types.DockerManifestList:
		im, err := v1.ParseIndexManifest(bytes.NewReader(desc.Manifest))
		if err != nil {
			return nil, fmt.Errorf("parse index %s: %w", dgst, err)
		}
		info := &manifestInfo{index: true, annotations: im.Annotations}
		for _, m := range im.Manifests {
			// Entries without a real platform are attestations, signatures
			// and the like, not images.
			if m.Platform == nil || m.Platform.OS == "" || m.Platform.OS == "unknown" ||
				m.Platform.Architecture == "" || m.Platform.Architecture == "unknown" {
				continue
			}
			info.platforms = append(info.platforms, platformRef{
				os: m.Platform.OS, arch: m.Platform.Architecture, variant: m.Platform.Variant,
				digest: m.Digest.String(), annotations: m.Annotations,
			})
		}
		return info, nil
	case types.OCIManifestSchema1, types.DockerManifestSchema2:
		m, err := v1.ParseManifest(bytes.NewReader(desc.Manifest))
		if err != nil {
			return nil, fmt.Errorf("parse manifest %s: %w", dgst, err)
		}
		info := &manifestInfo{annotations: m.Annotations}
		var labels map[string]string
		var created time.Time
		// Artifacts (charts, signatures) share the manifest type but their
		// config is not an image config: do not fetch it.
		if m.Config.MediaType == types.OCIConfigJSON || m.Config.MediaType == types.DockerConfigJSON {
			img, err := desc.Image()
			if err != nil {
				return nil, fmt.Errorf("read image %s: %w", dgst, err)
			}
			if m.Config.Size > maxConfigSize {
				return nil, fmt.Errorf("read config of image %s: %d bytes is more than the %d accepted", dgst, m.Config.Size, maxConfigSize)
			}
			raw, err := img.RawConfigFile()
			if err != nil {
				return nil, fmt.Errorf("get config of image %s: %w", dgst, err)
			}
			cfg, err := v1.ParseConfigFile(bytes.NewReader(raw))
			if err != nil {
				return nil, fmt.Errorf("parse config of image %s: %w", dgst, err)
			}
			labels, created = cfg.Config.Labels, cfg.Created.Time
			info.os, info.arch, info.variant = cfg.OS, cfg.Architecture, cfg.Variant
		}
		info.created = buildDate(created, m.Annotations, labels)
		return info, nil
	default:
		// Docker schema 1 and unknown types: listed, without metadata.
		return &manifestInfo{}, nil
	}
}

// buildDate returns the first RFC 3339 build date found in the annotations
// or labels, else the config's created date, else nil.
func buildDate(created time.Time, sources ...map[string]string) *time.Time {
	for _, src := range sources {
		for _, k := range []string{annotationCreated, annotationLegacyBuildDate} {
			if v, ok := src[k]; ok {
				if t, err := time.Parse(time.RFC3339, v); err == nil {
					return &t
				}
			}
		}
	}
	if created.IsZero() {
		return nil
	}
	return &created
}

// reference turns a tag's manifest info into what discovery reports.
//
// For an index, the digest reported is the index's own (as Kargo does:
// deploying by it lets each node pull its platform). With a platform, the
// index must have an image for it — else nil — and the created date is
// that image's, the annotations the index's merged with the entry's.
// Without one, the created date is the newest of its images'. A
// single-platform image with a platform set qualifies when its config
// names that platform.
func (c *repoClient) reference(ctx context.Context, tag, dgst string, info *manifestInfo) (*reference, error) {
	ref := &reference{tag: tag, digest: dgst, created: info.created, annotations: maps.Clone(info.annotations)}
	p := c.s.platform
	if !info.index {
		// A single-platform image qualifies by its config's platform.
		if p != nil && !p.matches(info.os, info.arch, info.variant) {
			return nil, nil
		}
		return ref, nil
	}
	if p != nil {
		for _, pr := range info.platforms {
			if !p.matches(pr.os, pr.arch, pr.variant) {
				continue
			}
			child, err := c.info(ctx, pr.digest, nil)
			if err != nil {
				return nil, err
			}
			ref.created = child.created
			if len(pr.annotations) > 0 {
				if ref.annotations == nil {
					ref.annotations = make(map[string]string, len(pr.annotations))
				}
				maps.Copy(ref.annotations, pr.annotations)
			}
			return ref, nil
		}
		return nil, nil
	}
	for _, pr := range info.platforms {
		child, err := c.info(ctx, pr.digest, nil)
		if err != nil {
			return nil, err
		}
		if child.created != nil && (ref.created == nil || child.created.After(*ref.created)) {
			ref.created = child.created
		}
	}
	return ref, nil
}
