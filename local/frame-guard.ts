/**
 * Watches the raw bytes a WebSocket client sends and reports the first frame whose payload exceeds the
 * limit, before the frame is parsed, as API Gateway enforces its 32 KB frame limit (the `ws` library
 * only knows a per-message limit).
 */
export class FrameSizeGuard {
  private pending: Buffer = Buffer.alloc(0);
  private remaining = 0;
  private tripped = false;

  constructor(
    private readonly maxFrameBytes: number,
    private readonly onTooLarge: (length: number) => void,
  ) {}

  private headerLength(): number {
    const lengthCode = this.pending[1] & 0x7f;
    const extended = lengthCode === 126 ? 2 : lengthCode === 127 ? 8 : 0;
    const mask = this.pending[1] & 0x80 ? 4 : 0;
    return 2 + extended + mask;
  }

  private payloadLength(): number {
    const lengthCode = this.pending[1] & 0x7f;
    if (lengthCode === 126) return this.pending.readUInt16BE(2);
    if (lengthCode === 127) return Number(this.pending.readBigUInt64BE(2));
    return lengthCode;
  }

  push(chunk: Buffer): void {
    let offset = 0;
    while (offset < chunk.length && !this.tripped) {
      if (this.remaining > 0) {
        const skipped = Math.min(this.remaining, chunk.length - offset);
        this.remaining -= skipped;
        offset += skipped;
        continue;
      }
      const wanted = this.pending.length < 2 ? 2 - this.pending.length : this.headerLength() - this.pending.length;
      if (wanted > 0) {
        const taken = Math.min(wanted, chunk.length - offset);
        this.pending = Buffer.concat([this.pending, chunk.subarray(offset, offset + taken)]);
        offset += taken;
        if (this.pending.length < 2 || this.pending.length < this.headerLength()) continue;
      }
      const length = this.payloadLength();
      this.pending = Buffer.alloc(0);
      if (length > this.maxFrameBytes) {
        this.tripped = true;
        this.onTooLarge(length);
        return;
      }
      this.remaining = length;
    }
  }
}
