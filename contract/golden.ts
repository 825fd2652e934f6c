/**
 * The golden reference's answer (`GET /api/parts/:line/:station/:partId/golden`, edge/src/review/golden.ts):
 * which part people accepted is shown beside the part under review, and how it was aligned. Here, not
 * beside the route, because the browser reads it too (dashboard/web/viewer.js, through JSDoc).
 */
import { Type, type Static } from '@sinclair/typebox';

export const GoldenSchema = Type.Object(
  {
    line: Type.String(),
    station: Type.String(),
    partId: Type.String({ description: 'the part the reference was chosen for' }),
    golden: Type.Object(
      {
        partId: Type.String({ description: 'the accepted part shown as the reference' }),
        acceptedBy: Type.Optional(Type.String({ description: 'who accepted it' })),
        acceptedAt: Type.String({ format: 'date-time' }),
        score: Type.Union([Type.Number(), Type.Null()]),
      },
      { additionalProperties: false },
    ),
    difference: Type.Number({
      minimum: 0,
      description: 'root-mean-square difference of the two aligned grey thumbnails, 0 to 255 (each less its mean)',
    }),
    shift: Type.Object(
      { x: Type.Number(), y: Type.Number() },
      {
        additionalProperties: false,
        description: "how far the reference was moved to lie over the part, as a share of the frame's width and height",
      },
    ),
    considered: Type.Integer({ minimum: 1, description: 'accepted parts with a kept frame compared' }),
    imageUrl: Type.String({ description: 'the reference frame, moved by `shift` and at the size of the part' }),
  },
  {
    additionalProperties: false,
    $id: 'GoldenReference',
    description: 'the nearest part people accepted at this station, aligned to the part under review',
  },
);
export type Golden = Static<typeof GoldenSchema>;
