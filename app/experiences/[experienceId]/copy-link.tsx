"use client";

import { Button } from "@whop/react/components";
import { useEffect, useState } from "react";

/** Copy the referral link, and share it (the phone's share sheet when there is one, else X and WhatsApp links). */
export function CopyLink({ link }: { link: string }) {
  const [copied, setCopied] = useState(false);
  const [canShare, setCanShare] = useState(false);
  useEffect(() => setCanShare(typeof navigator !== "undefined" && typeof navigator.share === "function"), []);
  const text = "Join me here:";
  return (
    <div className="row">
      <Button
        type="button"
        variant="soft"
        onClick={async () => {
          await navigator.clipboard.writeText(link);
          setCopied(true);
          setTimeout(() => setCopied(false), 2000);
        }}
      >
        {copied ? "Copied!" : "Copy link"}
      </Button>
      {canShare ? (
        <Button type="button" variant="soft" onClick={() => navigator.share({ text, url: link }).catch(() => {})}>
          Share
        </Button>
      ) : (
        <>
          <Button asChild variant="ghost" size="1">
            <a href={`https://x.com/intent/post?text=${encodeURIComponent(text)}&url=${encodeURIComponent(link)}`} target="_blank" rel="noopener noreferrer">
              Share on X
            </a>
          </Button>
          <Button asChild variant="ghost" size="1">
            <a href={`https://wa.me/?text=${encodeURIComponent(`${text} ${link}`)}`} target="_blank" rel="noopener noreferrer">
              WhatsApp
            </a>
          </Button>
        </>
      )}
    </div>
  );
}
