package graph

// The media types regprune knows, in one place: the registry client
// accepts the manifest types, inventory and apply decide from them.
const (
	MediaOCIIndex     = "application/vnd.oci.image.index.v1+json"
	MediaOCIManifest  = "application/vnd.oci.image.manifest.v1+json"
	MediaDockerList   = "application/vnd.docker.distribution.manifest.list.v2+json"
	MediaDockerV2     = "application/vnd.docker.distribution.manifest.v2+json"
	MediaOCIConfig    = "application/vnd.oci.image.config.v1+json"
	MediaDockerConfig = "application/vnd.docker.container.image.v1+json"
)

// IsIndexType reports whether mt is an index media type: an OCI image
// index or a Docker manifest list. Any other type, unknown ones
// included, is not.
func IsIndexType(mt string) bool {
	return mt == MediaOCIIndex || mt == MediaDockerList
}

// IsImageConfigType reports whether mt is the media type of an image
// config (OCI or Docker), or empty; any other config type makes the
// manifest an artifact.
func IsImageConfigType(mt string) bool {
	return mt == "" || mt == MediaOCIConfig || mt == MediaDockerConfig
}
