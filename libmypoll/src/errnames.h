/* SPDX-License-Identifier: MIT */
/*
 * The errno names a server may send in ERR (A.4 lists the usual ones; any
 * Linux errno name is accepted) with their descriptions, for
 * mypoll__errno_of() and mypoll_strerror(). Each row is guarded: a C library
 * without one of these names just does not know it. Included by line.c only.
 */
#define ROW(e, d) {#e, e, d " (" #e ")", "mypolld error " #e ": " d}

static const struct errname {
	const char *name;
	int err;
	const char *local;  /* mypoll_strerror(-e) */
	const char *server; /* mypoll_strerror(-(MYPOLL_ESERVER | e)) */
} errnames[] = {
#ifdef EPERM
	ROW(EPERM, "Operation not permitted"),
#endif
#ifdef ENOENT
	ROW(ENOENT, "No such file or directory"),
#endif
#ifdef ESRCH
	ROW(ESRCH, "No such process"),
#endif
#ifdef EINTR
	ROW(EINTR, "Interrupted system call"),
#endif
#ifdef EIO
	ROW(EIO, "Input/output error"),
#endif
#ifdef ENXIO
	ROW(ENXIO, "No such device or address"),
#endif
#ifdef E2BIG
	ROW(E2BIG, "Argument list too long"),
#endif
#ifdef ENOEXEC
	ROW(ENOEXEC, "Exec format error"),
#endif
#ifdef EBADF
	ROW(EBADF, "Bad file descriptor"),
#endif
#ifdef ECHILD
	ROW(ECHILD, "No child processes"),
#endif
#ifdef EAGAIN
	ROW(EAGAIN, "Resource temporarily unavailable"),
#endif
#ifdef ENOMEM
	ROW(ENOMEM, "Cannot allocate memory"),
#endif
#ifdef EACCES
	ROW(EACCES, "Permission denied"),
#endif
#ifdef EFAULT
	ROW(EFAULT, "Bad address"),
#endif
#ifdef ENOTBLK
	ROW(ENOTBLK, "Block device required"),
#endif
#ifdef EBUSY
	ROW(EBUSY, "Device or resource busy"),
#endif
#ifdef EEXIST
	ROW(EEXIST, "File exists"),
#endif
#ifdef EXDEV
	ROW(EXDEV, "Invalid cross-device link"),
#endif
#ifdef ENODEV
	ROW(ENODEV, "No such device"),
#endif
#ifdef ENOTDIR
	ROW(ENOTDIR, "Not a directory"),
#endif
#ifdef EISDIR
	ROW(EISDIR, "Is a directory"),
#endif
#ifdef EINVAL
	ROW(EINVAL, "Invalid argument"),
#endif
#ifdef ENFILE
	ROW(ENFILE, "Too many open files in system"),
#endif
#ifdef EMFILE
	ROW(EMFILE, "Too many open files"),
#endif
#ifdef ENOTTY
	ROW(ENOTTY, "Inappropriate ioctl for device"),
#endif
#ifdef ETXTBSY
	ROW(ETXTBSY, "Text file busy"),
#endif
#ifdef EFBIG
	ROW(EFBIG, "File too large"),
#endif
#ifdef ENOSPC
	ROW(ENOSPC, "No space left on device"),
#endif
#ifdef ESPIPE
	ROW(ESPIPE, "Illegal seek"),
#endif
#ifdef EROFS
	ROW(EROFS, "Read-only file system"),
#endif
#ifdef EMLINK
	ROW(EMLINK, "Too many links"),
#endif
#ifdef EPIPE
	ROW(EPIPE, "Broken pipe"),
#endif
#ifdef EDOM
	ROW(EDOM, "Numerical argument out of domain"),
#endif
#ifdef ERANGE
	ROW(ERANGE, "Numerical result out of range"),
#endif
#ifdef EDEADLK
	ROW(EDEADLK, "Resource deadlock avoided"),
#endif
#ifdef ENAMETOOLONG
	ROW(ENAMETOOLONG, "File name too long"),
#endif
#ifdef ENOLCK
	ROW(ENOLCK, "No locks available"),
#endif
#ifdef ENOSYS
	ROW(ENOSYS, "Function not implemented"),
#endif
#ifdef ENOTEMPTY
	ROW(ENOTEMPTY, "Directory not empty"),
#endif
#ifdef ELOOP
	ROW(ELOOP, "Too many levels of symbolic links"),
#endif
#ifdef ENOMSG
	ROW(ENOMSG, "No message of desired type"),
#endif
#ifdef EIDRM
	ROW(EIDRM, "Identifier removed"),
#endif
#ifdef ECHRNG
	ROW(ECHRNG, "Channel number out of range"),
#endif
#ifdef EL2NSYNC
	ROW(EL2NSYNC, "Level 2 not synchronized"),
#endif
#ifdef EL3HLT
	ROW(EL3HLT, "Level 3 halted"),
#endif
#ifdef EL3RST
	ROW(EL3RST, "Level 3 reset"),
#endif
#ifdef ELNRNG
	ROW(ELNRNG, "Link number out of range"),
#endif
#ifdef EUNATCH
	ROW(EUNATCH, "Protocol driver not attached"),
#endif
#ifdef ENOCSI
	ROW(ENOCSI, "No CSI structure available"),
#endif
#ifdef EL2HLT
	ROW(EL2HLT, "Level 2 halted"),
#endif
#ifdef EBADE
	ROW(EBADE, "Invalid exchange"),
#endif
#ifdef EBADR
	ROW(EBADR, "Invalid request descriptor"),
#endif
#ifdef EXFULL
	ROW(EXFULL, "Exchange full"),
#endif
#ifdef ENOANO
	ROW(ENOANO, "No anode"),
#endif
#ifdef EBADRQC
	ROW(EBADRQC, "Invalid request code"),
#endif
#ifdef EBADSLT
	ROW(EBADSLT, "Invalid slot"),
#endif
#ifdef EBFONT
	ROW(EBFONT, "Bad font file format"),
#endif
#ifdef ENOSTR
	ROW(ENOSTR, "Device not a stream"),
#endif
#ifdef ENODATA
	ROW(ENODATA, "No data available"),
#endif
#ifdef ETIME
	ROW(ETIME, "Timer expired"),
#endif
#ifdef ENOSR
	ROW(ENOSR, "Out of streams resources"),
#endif
#ifdef ENONET
	ROW(ENONET, "Machine is not on the network"),
#endif
#ifdef ENOPKG
	ROW(ENOPKG, "Package not installed"),
#endif
#ifdef EREMOTE
	ROW(EREMOTE, "Object is remote"),
#endif
#ifdef ENOLINK
	ROW(ENOLINK, "Link has been severed"),
#endif
#ifdef EADV
	ROW(EADV, "Advertise error"),
#endif
#ifdef ESRMNT
	ROW(ESRMNT, "Srmount error"),
#endif
#ifdef ECOMM
	ROW(ECOMM, "Communication error on send"),
#endif
#ifdef EPROTO
	ROW(EPROTO, "Protocol error"),
#endif
#ifdef EMULTIHOP
	ROW(EMULTIHOP, "Multihop attempted"),
#endif
#ifdef EDOTDOT
	ROW(EDOTDOT, "RFS specific error"),
#endif
#ifdef EBADMSG
	ROW(EBADMSG, "Bad message"),
#endif
#ifdef EOVERFLOW
	ROW(EOVERFLOW, "Value too large for defined data type"),
#endif
#ifdef ENOTUNIQ
	ROW(ENOTUNIQ, "Name not unique on network"),
#endif
#ifdef EBADFD
	ROW(EBADFD, "File descriptor in bad state"),
#endif
#ifdef EREMCHG
	ROW(EREMCHG, "Remote address changed"),
#endif
#ifdef ELIBACC
	ROW(ELIBACC, "Can not access a needed shared library"),
#endif
#ifdef ELIBBAD
	ROW(ELIBBAD, "Accessing a corrupted shared library"),
#endif
#ifdef ELIBSCN
	ROW(ELIBSCN, ".lib section in a.out corrupted"),
#endif
#ifdef ELIBMAX
	ROW(ELIBMAX, "Attempting to link in too many shared libraries"),
#endif
#ifdef ELIBEXEC
	ROW(ELIBEXEC, "Cannot exec a shared library directly"),
#endif
#ifdef EILSEQ
	ROW(EILSEQ, "Invalid or incomplete multibyte or wide character"),
#endif
#ifdef ERESTART
	ROW(ERESTART, "Interrupted system call should be restarted"),
#endif
#ifdef ESTRPIPE
	ROW(ESTRPIPE, "Streams pipe error"),
#endif
#ifdef EUSERS
	ROW(EUSERS, "Too many users"),
#endif
#ifdef ENOTSOCK
	ROW(ENOTSOCK, "Socket operation on non-socket"),
#endif
#ifdef EDESTADDRREQ
	ROW(EDESTADDRREQ, "Destination address required"),
#endif
#ifdef EMSGSIZE
	ROW(EMSGSIZE, "Message too long"),
#endif
#ifdef EPROTOTYPE
	ROW(EPROTOTYPE, "Protocol wrong type for socket"),
#endif
#ifdef ENOPROTOOPT
	ROW(ENOPROTOOPT, "Protocol not available"),
#endif
#ifdef EPROTONOSUPPORT
	ROW(EPROTONOSUPPORT, "Protocol not supported"),
#endif
#ifdef ESOCKTNOSUPPORT
	ROW(ESOCKTNOSUPPORT, "Socket type not supported"),
#endif
#ifdef EOPNOTSUPP
	ROW(EOPNOTSUPP, "Operation not supported"),
#endif
#ifdef EPFNOSUPPORT
	ROW(EPFNOSUPPORT, "Protocol family not supported"),
#endif
#ifdef EAFNOSUPPORT
	ROW(EAFNOSUPPORT, "Address family not supported by protocol"),
#endif
#ifdef EADDRINUSE
	ROW(EADDRINUSE, "Address already in use"),
#endif
#ifdef EADDRNOTAVAIL
	ROW(EADDRNOTAVAIL, "Cannot assign requested address"),
#endif
#ifdef ENETDOWN
	ROW(ENETDOWN, "Network is down"),
#endif
#ifdef ENETUNREACH
	ROW(ENETUNREACH, "Network is unreachable"),
#endif
#ifdef ENETRESET
	ROW(ENETRESET, "Network dropped connection on reset"),
#endif
#ifdef ECONNABORTED
	ROW(ECONNABORTED, "Software caused connection abort"),
#endif
#ifdef ECONNRESET
	ROW(ECONNRESET, "Connection reset by peer"),
#endif
#ifdef ENOBUFS
	ROW(ENOBUFS, "No buffer space available"),
#endif
#ifdef EISCONN
	ROW(EISCONN, "Transport endpoint is already connected"),
#endif
#ifdef ENOTCONN
	ROW(ENOTCONN, "Transport endpoint is not connected"),
#endif
#ifdef ESHUTDOWN
	ROW(ESHUTDOWN, "Cannot send after transport endpoint shutdown"),
#endif
#ifdef ETOOMANYREFS
	ROW(ETOOMANYREFS, "Too many references: cannot splice"),
#endif
#ifdef ETIMEDOUT
	ROW(ETIMEDOUT, "Connection timed out"),
#endif
#ifdef ECONNREFUSED
	ROW(ECONNREFUSED, "Connection refused"),
#endif
#ifdef EHOSTDOWN
	ROW(EHOSTDOWN, "Host is down"),
#endif
#ifdef EHOSTUNREACH
	ROW(EHOSTUNREACH, "No route to host"),
#endif
#ifdef EALREADY
	ROW(EALREADY, "Operation already in progress"),
#endif
#ifdef EINPROGRESS
	ROW(EINPROGRESS, "Operation now in progress"),
#endif
#ifdef ESTALE
	ROW(ESTALE, "Stale file handle"),
#endif
#ifdef EUCLEAN
	ROW(EUCLEAN, "Structure needs cleaning"),
#endif
#ifdef ENOTNAM
	ROW(ENOTNAM, "Not a XENIX named type file"),
#endif
#ifdef ENAVAIL
	ROW(ENAVAIL, "No XENIX semaphores available"),
#endif
#ifdef EISNAM
	ROW(EISNAM, "Is a named type file"),
#endif
#ifdef EREMOTEIO
	ROW(EREMOTEIO, "Remote I/O error"),
#endif
#ifdef EDQUOT
	ROW(EDQUOT, "Disk quota exceeded"),
#endif
#ifdef ENOMEDIUM
	ROW(ENOMEDIUM, "No medium found"),
#endif
#ifdef EMEDIUMTYPE
	ROW(EMEDIUMTYPE, "Wrong medium type"),
#endif
#ifdef ECANCELED
	ROW(ECANCELED, "Operation canceled"),
#endif
#ifdef ENOKEY
	ROW(ENOKEY, "Required key not available"),
#endif
#ifdef EKEYEXPIRED
	ROW(EKEYEXPIRED, "Key has expired"),
#endif
#ifdef EKEYREVOKED
	ROW(EKEYREVOKED, "Key has been revoked"),
#endif
#ifdef EKEYREJECTED
	ROW(EKEYREJECTED, "Key was rejected by service"),
#endif
#ifdef EOWNERDEAD
	ROW(EOWNERDEAD, "Owner died"),
#endif
#ifdef ENOTRECOVERABLE
	ROW(ENOTRECOVERABLE, "State not recoverable"),
#endif
#ifdef ERFKILL
	ROW(ERFKILL, "Operation not possible due to RF-kill"),
#endif
#ifdef EHWPOISON
	ROW(EHWPOISON, "Memory page has hardware error"),
#endif
	/* Aliases: the name as sent maps to the same value. */
#ifdef ENOTSUP
	ROW(ENOTSUP, "Operation not supported"),
#endif
#ifdef EWOULDBLOCK
	ROW(EWOULDBLOCK, "Resource temporarily unavailable"),
#endif
#ifdef EDEADLOCK
	ROW(EDEADLOCK, "Resource deadlock avoided"),
#endif
};

#undef ROW
