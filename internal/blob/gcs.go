//go:build gcs

package blob

// Built with -tags gcs, gs:// URLs use gocloud's native GCS driver.
import _ "gocloud.dev/blob/gcsblob"
