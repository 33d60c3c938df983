/** Facts about byte buffers that more than one layer relies on. */

/**
 * The bytes are the whole of their memory, not a view into a larger
 * buffer (a slice of one of Node's shared 8 KiB slabs, say): keeping them
 * keeps nothing else alive.
 */
export function ownsItsMemory(bytes: Uint8Array): boolean {
  return bytes.byteOffset === 0 && bytes.buffer.byteLength === bytes.byteLength;
}
