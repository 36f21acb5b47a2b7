"""Container images built and imported locally (no registry is reachable): OCI image-layout
tarballs (`oci`), busybox and pause images from the static busybox binary (`busybox`), and
importing tarballs into containerd (`importer`)."""

from kubeling.images.busybox import BUSYBOX_IMAGE, PAUSE_IMAGE, build_busybox, build_pause
from kubeling.images.importer import ImageImportError, import_dir, import_images
from kubeling.images.oci import normalize_ref, write_image_tar

__all__ = ["BUSYBOX_IMAGE", "PAUSE_IMAGE", "ImageImportError", "build_busybox", "build_pause", "import_dir",
           "import_images", "normalize_ref", "write_image_tar"]
