// Package packaging holds no code: its tests check the Buildroot external
// tree (br2-external/), the Yocto layer (meta-mypoll/) and the shared init
// files (init/) against the project itself — go.mod, the vendor tree, the
// paths and licence files the packages name — without a Buildroot or
// OpenEmbedded checkout and without network.
//
// It must not know how the daemon works: only the facts packagers see (the
// module path, command directories, the version variable, the module name).
package packaging
