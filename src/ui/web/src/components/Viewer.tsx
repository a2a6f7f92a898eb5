/**
 * The image viewer over `GET /api/images/{id}/png`: window/level presets and right-drag (or shift-drag),
 * zoom (buttons, +/-, ctrl+wheel) and pan (drag), frames and images with the wheel, arrow keys and buttons.
 */
import { useEffect, useRef, useState } from 'react';
import {
  Alert,
  Button,
  Group,
  SegmentedControl,
  Select,
  Stack,
  Text,
  Tooltip,
  ActionIcon,
} from '@mantine/core';
import { useQuery } from '@tanstack/react-query';
import {
  IconChevronLeft,
  IconChevronRight,
  IconZoomIn,
  IconZoomOut,
  IconZoomReset,
} from '@tabler/icons-react';
import { api, describeFailure, errorMessage } from '../lib/api';
import type { Image, ImageInformation } from '../lib/types';

interface Window {
  min: number;
  max: number;
}

/** CT presets as width/level, in Hounsfield units. */
const PRESETS: Record<string, { label: string; level: number; width: number }> = {
  soft: { label: 'Soft tissue', level: 40, width: 400 },
  lung: { label: 'Lung', level: -600, width: 1500 },
  bone: { label: 'Bone', level: 300, width: 2000 },
  brain: { label: 'Brain', level: 40, width: 80 },
};

export function Viewer({
  images,
  index,
  onIndex,
}: {
  images: Image[];
  index: number;
  onIndex: (i: number) => void;
}) {
  const image = images[index];
  const [frame, setFrame] = useState(1);
  const [preset, setPreset] = useState('file');
  const [window, setWindow] = useState<Window | null>(null);
  const [zoom, setZoom] = useState(1);
  const [pan, setPan] = useState({ x: 0, y: 0 });
  const [error, setError] = useState('');
  const [loaded, setLoaded] = useState(false);
  const stage = useRef<HTMLDivElement>(null);
  const info = useQuery({
    queryKey: ['imageinformation', image?.id],
    queryFn: () => api<ImageInformation>(`/images/${image!.id}/imageinformation`),
    enabled: !!image,
    staleTime: Infinity,
  });
  const frames = info.data?.numberOfFrames || 1;

  useEffect(() => setFrame(1), [image?.id]);
  useEffect(() => {
    if (!info.data) return;
    if (preset === 'full') setWindow({ min: info.data.minimumPixelValue, max: info.data.maximumPixelValue });
    else if (preset in PRESETS) {
      const p = PRESETS[preset]!;
      setWindow({ min: p.level - p.width / 2, max: p.level + p.width / 2 });
    } else if (preset === 'file') setWindow(null);
  }, [preset, info.data]);

  const url = (img: Image, f: number) =>
    `/api/images/${img.id}/png?framenumber=${f}` +
    (window && window.max > window.min
      ? `&windowmin=${Math.round(window.min)}&windowmax=${Math.round(window.max)}`
      : '');
  const src = image ? url(image, frame) : '';
  useEffect(() => {
    setError('');
    setLoaded(false);
  }, [src]);
  // Fetch the next image ahead, so scrolling through a series is smooth.
  useEffect(() => {
    const next = images[index + 1];
    if (next) new window_.Image().src = url(next, 1);
  });

  const step = (delta: number) => {
    if (delta > 0 && frame < frames) return setFrame(frame + 1);
    if (delta < 0 && frame > 1) return setFrame(frame - 1);
    const i = index + delta;
    if (i >= 0 && i < images.length) onIndex(i);
  };
  const stepImage = (delta: number) => {
    const i = index + delta;
    if (i >= 0 && i < images.length) onIndex(i);
  };

  useEffect(() => {
    const el = stage.current;
    if (!el) return;
    const onWheel = (e: WheelEvent) => {
      e.preventDefault();
      if (e.ctrlKey) setZoom((z) => Math.min(8, Math.max(0.25, z * (e.deltaY < 0 ? 1.15 : 1 / 1.15))));
      else step(e.deltaY > 0 ? 1 : -1);
    };
    el.addEventListener('wheel', onWheel, { passive: false });
    return () => el.removeEventListener('wheel', onWheel);
  });

  const drag = useRef<{
    x: number;
    y: number;
    window: Window;
    pan: { x: number; y: number };
    mode: 'wl' | 'pan';
  } | null>(null);
  const baseWindow = (): Window =>
    window ??
    (info.data
      ? { min: info.data.minimumPixelValue, max: info.data.maximumPixelValue }
      : { min: 0, max: 4095 });
  const onPointerDown = (e: React.PointerEvent) => {
    stage.current?.focus();
    (e.target as Element).setPointerCapture?.(e.pointerId);
    drag.current = {
      x: e.clientX,
      y: e.clientY,
      window: baseWindow(),
      pan,
      mode: e.button === 2 || e.shiftKey ? 'wl' : zoom > 1 ? 'pan' : 'wl',
    };
  };
  const onPointerMove = (e: React.PointerEvent) => {
    const d = drag.current;
    if (!d) return;
    const dx = e.clientX - d.x;
    const dy = e.clientY - d.y;
    if (d.mode === 'pan') return setPan({ x: d.pan.x + dx, y: d.pan.y + dy });
    const width0 = d.window.max - d.window.min;
    const sensitivity = Math.max(1, width0 / 256);
    const width = Math.max(1, width0 + dx * sensitivity);
    const level = (d.window.max + d.window.min) / 2 + dy * sensitivity;
    setPreset('custom');
    setWindow({ min: level - width / 2, max: level + width / 2 });
  };
  const onKeyDown = (e: React.KeyboardEvent) => {
    const keys: Record<string, () => void> = {
      ArrowDown: () => step(1),
      ArrowRight: () => step(1),
      ArrowUp: () => step(-1),
      ArrowLeft: () => step(-1),
      PageDown: () => stepImage(1),
      PageUp: () => stepImage(-1),
      Home: () => onIndex(0),
      End: () => onIndex(images.length - 1),
      '+': () => setZoom((z) => Math.min(8, z * 1.25)),
      '=': () => setZoom((z) => Math.min(8, z * 1.25)),
      '-': () => setZoom((z) => Math.max(0.25, z / 1.25)),
      '0': () => (setZoom(1), setPan({ x: 0, y: 0 })),
    };
    const action = keys[e.key];
    if (action) {
      e.preventDefault();
      action();
    }
  };

  if (!image) return <Alert color="gray">This series has no images.</Alert>;
  const w = window ?? (preset === 'file' ? null : baseWindow());
  return (
    <Stack gap="xs">
      <Group gap="xs" wrap="wrap" justify="space-between">
        <Group gap="xs" wrap="wrap">
          <Select
            size="xs"
            aria-label="Window preset"
            w={150}
            allowDeselect={false}
            value={preset}
            onChange={(v) => setPreset(v ?? 'file')}
            data={[
              { value: 'file', label: "File's window" },
              { value: 'full', label: 'Full range' },
              ...Object.entries(PRESETS).map(([value, p]) => ({ value, label: `${p.label} (CT)` })),
              ...(preset === 'custom' ? [{ value: 'custom', label: 'Custom (dragged)' }] : []),
            ]}
          />
          <Tooltip label="Zoom out (-)">
            <ActionIcon
              variant="default"
              aria-label="Zoom out"
              onClick={() => setZoom((z) => Math.max(0.25, z / 1.25))}
            >
              <IconZoomOut size={16} />
            </ActionIcon>
          </Tooltip>
          <Tooltip label="Zoom in (+)">
            <ActionIcon
              variant="default"
              aria-label="Zoom in"
              onClick={() => setZoom((z) => Math.min(8, z * 1.25))}
            >
              <IconZoomIn size={16} />
            </ActionIcon>
          </Tooltip>
          <Tooltip label="Reset zoom and pan (0)">
            <ActionIcon
              variant="default"
              aria-label="Reset zoom"
              onClick={() => (setZoom(1), setPan({ x: 0, y: 0 }))}
            >
              <IconZoomReset size={16} />
            </ActionIcon>
          </Tooltip>
        </Group>
        <Group gap="xs">
          <Button
            size="xs"
            variant="default"
            leftSection={<IconChevronLeft size={14} />}
            disabled={index === 0}
            onClick={() => stepImage(-1)}
          >
            Previous image
          </Button>
          <Button
            size="xs"
            variant="default"
            rightSection={<IconChevronRight size={14} />}
            disabled={index >= images.length - 1}
            onClick={() => stepImage(1)}
          >
            Next image
          </Button>
        </Group>
      </Group>
      <div
        ref={stage}
        className="viewer-stage"
        tabIndex={0}
        role="img"
        aria-label={`Image ${index + 1} of ${images.length}${frames > 1 ? `, frame ${frame} of ${frames}` : ''}. Arrow keys or wheel: next and previous; drag: window and level; plus and minus: zoom.`}
        onKeyDown={onKeyDown}
        onPointerDown={onPointerDown}
        onPointerMove={onPointerMove}
        onPointerUp={() => (drag.current = null)}
        onContextMenu={(e) => e.preventDefault()}
        data-testid="viewer"
      >
        {error ? (
          <Text c="red.3" p="md" role="alert">
            {error}
          </Text>
        ) : (
          <img
            key={src}
            src={src}
            alt=""
            data-loaded={loaded}
            style={{ transform: `translate(${pan.x}px, ${pan.y}px) scale(${zoom})` }}
            onLoad={() => setLoaded(true)}
            onError={() => {
              // The PNG route says why in its body (501 for what cannot be rendered): ask it.
              fetch(src, { credentials: 'same-origin' })
                .then(async (r) =>
                  setError(
                    r.ok
                      ? 'The image could not be shown.'
                      : describeFailure(r.status, await r.text(), 'Rendering'),
                  ),
                )
                .catch((err) => setError(errorMessage(err)));
            }}
          />
        )}
        <div className="viewer-overlay" aria-hidden>
          Image {index + 1}/{images.length}
          {frames > 1 && ` · frame ${frame}/${frames}`} · #{image.instanceNumber.value || '—'}
          {w && ` · W ${Math.round(w.max - w.min)} L ${Math.round((w.max + w.min) / 2)}`}
          {zoom !== 1 && ` · ${Math.round(zoom * 100)}%`}
        </div>
      </div>
      {frames > 1 && (
        <SegmentedControl
          size="xs"
          aria-label="Frame"
          value={String(frame)}
          onChange={(v) => setFrame(Number(v))}
          data={Array.from({ length: Math.min(frames, 12) }, (_, i) => String(i + 1))}
        />
      )}
      {info.isError && (
        <Text size="xs" c="red.8">
          {errorMessage(info.error)}
        </Text>
      )}
    </Stack>
  );
}

// `window` is shadowed by the window/level state above.
const window_ = globalThis as unknown as { Image: typeof globalThis.Image };
