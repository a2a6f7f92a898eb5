// dcmjs ships no types; we use a small part of its data API.
declare module 'dcmjs' {
  const dcmjs: {
    log: { setLevel?: (level: string) => void };
    data: {
      DicomMessage: {
        readFile(
          buffer: ArrayBuffer,
          options?: Record<string, unknown>,
        ): { meta: Record<string, any>; dict: Record<string, any> };
      };
      DicomDict: new (meta: Record<string, any>) => {
        meta: Record<string, any>;
        dict: Record<string, any>;
        write(options?: Record<string, unknown>): ArrayBuffer;
      };
      DicomMetaDictionary: {
        nameMap: Record<string, { tag: string; vr: string; name: string; vm: string }>;
        dictionary: Record<string, { tag: string; vr: string; name: string; vm: string }>;
        naturalizeDataset(dataset: Record<string, any>): Record<string, any>;
        denaturalizeDataset(dataset: Record<string, any>): Record<string, any>;
        punctuateTag(tag: string): string;
        unpunctuateTag(tag: string): string;
      };
    };
  };
  export default dcmjs;
}

// streamsearch (busboy's Boyer-Moore-Horspool stream search) ships no types.
declare module 'streamsearch' {
  type Callback = (
    isMatch: boolean,
    data: Buffer | undefined,
    start: number,
    end: number,
    isSafeData: boolean,
  ) => void;
  export default class StreamSearch {
    constructor(needle: Buffer | string, callback: Callback);
    push(chunk: Buffer): number;
    destroy(): void;
  }
}
