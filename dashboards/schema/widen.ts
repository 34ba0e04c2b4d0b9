// A JSON module's type widens every literal ("timeseries" becomes string,
// 42 becomes number), while Grafana's types use literal unions and string
// enums for fields such as a variable's type or a color mode. Widen<T>
// relaxes exactly that and keeps everything else: the shape, which fields
// are required, and the kind of each value, so a string where Grafana wants
// a number still fails.
export type Widen<T> = T extends string
  ? string
  : T extends number
    ? number
    : T extends boolean
      ? boolean
      : T extends ReadonlyArray<infer U>
        ? Array<Widen<U>>
        : T extends object
          ? { [K in keyof T]: Widen<T[K]> }
          : T;
